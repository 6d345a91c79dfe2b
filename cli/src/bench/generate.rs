//! A deterministic generator of realistic Segment track events for `destkit bench`.
//!
//! The mix follows the peer harness's (`../shared/bench/peer-action-destinations/gen-events.mjs`):
//! Product Viewed 35 %, Product Added 20 %, Button Clicked 20 %, Order Completed 15 % (1–5
//! products), Checkout Started 10 %, with userId on about 70 % of users, anonymousId, messageId,
//! the four timestamps and a browser context. The same seed always gives the same bytes.

use std::io::{self, Write};

/// splitmix64: a small, fast, deterministic generator (no cryptographic claims).
pub struct Rng(u64);

impl Rng {
    /// A generator from a seed.
    pub fn new(seed: u64) -> Rng {
        Rng(seed ^ 0x9E37_79B9_7F4A_7C15)
    }
    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// A number in `lo..=hi`.
    pub fn int(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next_u64() % (hi - lo + 1)
    }
    /// One element of a slice.
    pub fn pick<'a, T>(&mut self, xs: &'a [T]) -> &'a T {
        &xs[(self.next_u64() % xs.len() as u64) as usize]
    }
    /// A money amount in `lo..hi` with two decimals.
    pub fn money(&mut self, lo: u64, hi: u64) -> f64 {
        (self.int(lo * 100, hi * 100) as f64) / 100.0
    }
}

const CATEGORIES: &[&str] = &[
    "Apparel",
    "Shoes",
    "Electronics",
    "Home & Garden",
    "Books",
    "Toys",
    "Beauty",
    "Sports",
];
const BRANDS: &[&str] = &[
    "Acme", "Globex", "Initech", "Umbrella", "Hooli", "Stark", "Wayne", "Soylent",
];
const NAMES: &[&str] = &[
    "Classic Jacket",
    "Ultra Sneaker",
    "Eco Headphones",
    "Pro Lamp",
    "Mini Novel",
    "Smart Robot",
    "Travel Serum",
    "Sport Racket",
    "Deluxe Backpack",
    "Vintage Watch",
];
const AGENTS: &[&str] = &[
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4.1 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (X11; Linux x86_64; rv:125.0) Gecko/20100101 Firefox/125.0",
];
const LOCALES: &[&str] = &["en-US", "en-GB", "de-DE", "fr-FR", "ja-JP"];

fn iso(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .unwrap_or_default()
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// The most event times may span: a day, well inside the oldest time partners take (GA4: 72 hours).
const MAX_SPAN_MS: u64 = 24 * 3_600_000;

/// The largest step between two events' times for a stream of `n`: 40 ms, less for streams so
/// long that `n` steps of 40 ms would span more than [`MAX_SPAN_MS`] (at least 1 ms).
pub fn max_step_ms(n: u64) -> u64 {
    (MAX_SPAN_MS / n.max(1)).clamp(1, 40)
}

/// Write `n` events, one JSON object per line, to `out`. Event times advance 1 to
/// [`max_step_ms`]`(n)` ms per event and never pass `end_ms` (Unix milliseconds): the first is
/// after `end_ms − n × max_step_ms(n)`, so a stream of up to 86.4 million events lies within the
/// day before `end_ms`. (Times that ran hours past the present made GA4, which takes events at
/// most a few minutes ahead, reject most of a stream of a million.)
pub fn write_events(out: &mut impl Write, n: u64, seed: u64, end_ms: i64) -> io::Result<()> {
    let mut rng = Rng::new(seed);
    let step = max_step_ms(n);
    let span = i64::try_from(n.saturating_mul(step)).unwrap_or(i64::MAX);
    let mut ts = end_ms.saturating_sub(span);
    for i in 0..n {
        ts += rng.int(1, step) as i64;
        let user = rng.int(0, 1999);
        let has_user_id = user % 10 < 7;
        let p = rng.int(0, 199);
        let product = serde_json::json!({
            "product_id": format!("prod_{p:05}"),
            "sku": format!("SKU-{p:04}"),
            "name": rng.pick(NAMES),
            "price": rng.money(3, 400),
            "category": rng.pick(CATEGORIES),
            "brand": rng.pick(BRANDS),
        });
        let roll = rng.int(0, 99);
        let (event, properties) = if roll < 35 {
            let mut props = product.clone();
            props["currency"] = "USD".into();
            props["url"] = format!("https://shop.example.com/products/prod_{p:05}").into();
            ("Product Viewed", props)
        } else if roll < 55 {
            let mut props = product.clone();
            props["cart_id"] = format!("cart_{:010x}", rng.next_u64() >> 24).into();
            props["quantity"] = rng.int(1, 3).into();
            props["currency"] = "USD".into();
            ("Product Added", props)
        } else if roll < 75 {
            (
                "Button Clicked",
                serde_json::json!({"button_id": "signup-cta", "label": "Sign up", "section": "header"}),
            )
        } else {
            let k = rng.int(1, 5);
            let mut products = Vec::new();
            let mut total = 0.0;
            for pos in 1..=k {
                let q = rng.int(1, 3);
                let price = rng.money(3, 400);
                total += price * q as f64;
                let id = rng.int(0, 199);
                products.push(serde_json::json!({
                    "product_id": format!("prod_{id:05}"), "sku": format!("SKU-{id:04}"),
                    "name": rng.pick(NAMES), "price": price, "quantity": q,
                    "category": rng.pick(CATEGORIES), "brand": rng.pick(BRANDS), "position": pos,
                }));
            }
            let total = (total * 100.0).round() / 100.0;
            if roll < 90 {
                (
                    "Order Completed",
                    serde_json::json!({"order_id": format!("ord_{i:08}"), "total": total,
                        "revenue": total, "shipping": 9.99, "tax": 4.5, "currency": "USD",
                        "products": products}),
                )
            } else {
                (
                    "Checkout Started",
                    serde_json::json!({"order_id": format!("ord_{i:08}"), "value": total,
                        "revenue": total, "currency": "USD", "products": products}),
                )
            }
        };
        let mut ev = serde_json::json!({
            "type": "track",
            "event": event,
            "anonymousId": format!("anon-{user:06}-{:08x}", user * 2_654_435_761 % 4_294_967_291),
            "messageId": format!("bench-{seed}-{i:010}"),
            "timestamp": iso(ts),
            "originalTimestamp": iso(ts),
            "sentAt": iso(ts + 12),
            "receivedAt": iso(ts + 90),
            "properties": properties,
            "context": {
                "ip": format!("203.0.113.{}", user % 254 + 1),
                "userAgent": rng.pick(AGENTS),
                "locale": rng.pick(LOCALES),
                "library": {"name": "analytics.js", "version": "next-1.64.0"},
                "page": {"path": "/", "title": "Shop", "url": "https://shop.example.com/"}
            },
            "integrations": {},
            "version": 2
        });
        if has_user_id {
            ev["userId"] = format!("user_{user:06}").into();
        }
        serde_json::to_writer(&mut *out, &ev)?;
        out.write_all(b"\n")?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_bytes_and_every_line_valid() {
        let mut a = Vec::new();
        let mut b = Vec::new();
        write_events(&mut a, 200, 42, 1_700_000_000_000).unwrap();
        write_events(&mut b, 200, 42, 1_700_000_000_000).unwrap();
        assert_eq!(a, b);
        let recs = destination_kit::event::parse_document(&a);
        assert_eq!(recs.len(), 200);
        for r in recs {
            let m = r.result.expect("parses");
            assert_eq!(m.validate(), vec![], "line {}", r.line);
        }
    }

    #[test]
    fn event_times_end_by_the_given_time_and_span_at_most_a_day() {
        let end = 1_700_000_000_000;
        let mut out = Vec::new();
        write_events(&mut out, 500, 7, end).unwrap();
        let mut last = i64::MIN;
        for r in destination_kit::event::parse_document(&out) {
            let m = r.result.expect("parses");
            let t = m.timestamp().expect("a timestamp").timestamp_millis();
            assert!(t <= end, "line {} at {t} is after the end {end}", r.line);
            assert!(
                t > end - 500 * 40,
                "line {} at {t} starts too early",
                r.line
            );
            assert!(t > last, "times advance");
            last = t;
        }
        // long streams take smaller steps: n steps never span more than a day
        for n in [1, 200_000, 2_160_000, 5_000_000, 86_400_000] {
            let step = max_step_ms(n);
            assert!((1..=40).contains(&step), "{n}: {step}");
            assert!(
                n * step <= MAX_SPAN_MS,
                "{n} events of {step} ms span more than a day"
            );
        }
        assert_eq!(max_step_ms(200_000), 40);
        assert_eq!(max_step_ms(5_000_000), 17);
    }
}
