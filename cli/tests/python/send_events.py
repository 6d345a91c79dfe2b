"""Drive `destkit serve` with Segment's own Python client library (segment-analytics-python).

Usage: send_events.py HOST WRITE_KEY

Sends identify, track (Order Completed with products, and a custom event with an explicit past
timestamp), page and group with gzip on, then flushes. Prints one JSON line per message as the
client built it (type, messageId, timestamp, event) so the test can compare with what the
destination's mock partner received. Exits 1 if the client reported any upload error.
"""

import json
import sys
from datetime import datetime, timezone

import segment.analytics as analytics

host, write_key = sys.argv[1], sys.argv[2]
errors = []

analytics.write_key = write_key
analytics.host = host
analytics.gzip = True
analytics.max_retries = 1
analytics.on_error = lambda error, batch: errors.append(str(error))

sent = []


def keep(result):
    ok, msg = result
    if not ok:
        errors.append("not queued: %r" % (msg,))
    sent.append(msg)


keep(analytics.identify("user-py-1", {"email": "py@example.com", "firstName": "Ada", "plan": "pro"}))
keep(
    analytics.track(
        "user-py-1",
        "Order Completed",
        {
            "order_id": "o-py-1",
            "total": 27.5,
            "revenue": 25.0,
            "currency": "EUR",
            "products": [
                {"product_id": "p1", "sku": "SKU-1", "name": "Mug", "price": 12.5, "quantity": 1},
                {"product_id": "p2", "sku": "SKU-2", "name": "Tee", "price": 15.0, "quantity": 1},
            ],
        },
    )
)
keep(
    analytics.track(
        "user-py-1",
        "Newsletter Signed Up",
        {"list": "weekly"},
        timestamp=datetime(2026, 1, 2, 3, 4, 5, 678000, tzinfo=timezone.utc),
    )
)
keep(analytics.page("user-py-1", "Docs", "Getting Started", {"url": "https://example.com/docs"}))
keep(analytics.group("user-py-1", "group-py-1", {"name": "Acme Inc", "employees": 42}))
analytics.flush()

for m in sent:
    print(json.dumps({k: m.get(k) for k in ("type", "messageId", "timestamp", "event")}))
if errors:
    print("client errors: %s" % errors, file=sys.stderr)
    sys.exit(1)
