//! Ecommerce v2: the shared objects ([`Product`], [`Filter`], [`Sort`], [`Query`]) and one
//! properties struct per event.
//!
//! Money fields are `f64` in the event's currency units. Product `quantity` and `position` and
//! checkout `step` are numbers in the spec (not integers), so they are `f64` too. List, cart and
//! order events carry `products` (empty when absent); product-level events (Product Clicked,
//! Viewed, Added, Removed, the wishlist events and Product Shared) carry the product's fields flat
//! in `properties`, read into their `product` field.

use super::read::{FromProp, Path, props, push_err};
use crate::error::FieldError;
use serde_json::{Map, Value};

props! {
    /// A product: an element of `products`, or the flat properties of a product-level event.
    pub struct Product {
        /// `product_id`: the internal (database) product id.
        pub product_id: Option<String> = "product_id",
        /// `sku`: the public stock-keeping code.
        pub sku: Option<String> = "sku",
        /// `category`.
        pub category: Option<String> = "category",
        /// `name`: the display name.
        pub name: Option<String> = "name",
        /// `brand`.
        pub brand: Option<String> = "brand",
        /// `variant` (edition, size, colour…).
        pub variant: Option<String> = "variant",
        /// `price`: unit price in currency units.
        pub price: Option<f64> = "price",
        /// `quantity`: number of units.
        pub quantity: Option<f64> = "quantity",
        /// `coupon`: a product-level coupon code.
        pub coupon: Option<String> = "coupon",
        /// `position`: the slot in a list (1-based).
        pub position: Option<f64> = "position",
        /// `url`: the product page.
        pub url: Option<String> = "url",
        /// `image_url`: the product image.
        pub image_url: Option<String> = "image_url",
    }
}

impl Product {
    /// `product_id`, else `sku`: the best id the event has.
    pub fn id(&self) -> Option<&str> {
        self.product_id.as_deref().or(self.sku.as_deref())
    }
    /// `quantity`, 1 when absent.
    pub fn quantity_or_one(&self) -> f64 {
        self.quantity.unwrap_or(1.0)
    }
    /// `price × quantity` (quantity 1 when absent), when the price is known.
    pub fn line_total(&self) -> Option<f64> {
        self.price.map(|p| p * self.quantity_or_one())
    }
}

props! {
    /// One filter of Product List Filtered.
    pub struct Filter {
        /// `type`: the filter dimension id.
        pub filter_type: Option<String> = "type",
        /// `value`: the chosen value id.
        pub value: Option<String> = "value",
    }
}

props! {
    /// One sort of Product List Filtered.
    pub struct Sort {
        /// `type`: the sort key id.
        pub sort_type: Option<String> = "type",
        /// `value`: the direction or selection (`asc`, `desc`…).
        pub value: Option<String> = "value",
    }
}

/// `query` of Products Searched: a string or an object, as the spec allows.
#[derive(Debug, Clone, PartialEq)]
pub enum Query {
    /// A search string (a number is read as its text).
    Text(String),
    /// A structured query.
    Object(Map<String, Value>),
}

impl Query {
    /// The query text, when it is a string.
    pub fn as_text(&self) -> Option<&str> {
        match self {
            Query::Text(s) => Some(s),
            Query::Object(_) => None,
        }
    }
}

impl FromProp for Query {
    fn from_prop(v: &Value, path: &Path<'_>, errs: &mut Vec<FieldError>) -> Option<Self> {
        match v {
            Value::String(s) => Some(Query::Text(s.clone())),
            Value::Number(n) => Some(Query::Text(n.to_string())),
            Value::Object(m) => Some(Query::Object(m.clone())),
            other => {
                push_err(errs, path, "a string or an object", other);
                None
            }
        }
    }
}

impl super::read::FromTree for Query {
    fn from_tree(v: crate::json::Json<'_>) -> Option<Self> {
        use crate::json::Kind;
        match v.kind() {
            Kind::String => v.as_str().map(|s| Query::Text(s.to_owned())),
            Kind::Number => super::read::tree_through_exact(v),
            Kind::Object => match v.to_serde() {
                Value::Object(m) => Some(Query::Object(m)),
                _ => None,
            },
            _ => None,
        }
    }
}

props! {
    /// Products Searched.
    pub struct ProductsSearched {
        /// `query`: what was searched for.
        pub query: Option<Query> = "query",
    }
}

props! {
    /// Product List Viewed (v1: Viewed Product Category).
    pub struct ProductListViewed {
        /// `list_id`.
        pub list_id: Option<String> = "list_id",
        /// `category`.
        pub category: Option<String> = "category",
        /// `products` shown.
        pub products: Vec<Product> = "products",
    }
}

props! {
    /// Product List Filtered.
    pub struct ProductListFiltered {
        /// `list_id`.
        pub list_id: Option<String> = "list_id",
        /// `category`.
        pub category: Option<String> = "category",
        /// `filters` applied.
        pub filters: Vec<Filter> = "filters",
        /// `sorts` applied.
        pub sorts: Vec<Sort> = "sorts",
        /// `products` shown.
        pub products: Vec<Product> = "products",
    }
}

props! {
    /// Promotion Viewed (v1: Viewed Promotion).
    pub struct PromotionViewed {
        /// `promotion_id`.
        pub promotion_id: Option<String> = "promotion_id",
        /// `creative`: the banner or creative shown.
        pub creative: Option<String> = "creative",
        /// `name`.
        pub name: Option<String> = "name",
        /// `position`: a slot name (a string, unlike a product's).
        pub position: Option<String> = "position",
    }
}

props! {
    /// Promotion Clicked (v1: Clicked Promotion).
    pub struct PromotionClicked {
        /// `promotion_id`.
        pub promotion_id: Option<String> = "promotion_id",
        /// `creative`.
        pub creative: Option<String> = "creative",
        /// `name`.
        pub name: Option<String> = "name",
        /// `position`: a slot name.
        pub position: Option<String> = "position",
    }
}

props! {
    /// Product Clicked (v1: Clicked Product); the product is flat in `properties`.
    pub struct ProductClicked {
        /// The product.
        pub product: flat Product,
    }
}

props! {
    /// Product Viewed (v1: Viewed Product); the product is flat in `properties`.
    pub struct ProductViewed {
        /// The product.
        pub product: flat Product,
        /// `currency` (ISO 4217).
        pub currency: Option<String> = "currency",
        /// `value`: product value × quantity.
        pub value: Option<f64> = "value",
    }
}

props! {
    /// Product Added (v1: Added Product); the product is flat in `properties`.
    pub struct ProductAdded {
        /// The product.
        pub product: flat Product,
        /// `cart_id`.
        pub cart_id: Option<String> = "cart_id",
    }
}

props! {
    /// Product Removed (v1: Removed Product); the product is flat in `properties`.
    pub struct ProductRemoved {
        /// The product.
        pub product: flat Product,
        /// `cart_id`.
        pub cart_id: Option<String> = "cart_id",
    }
}

props! {
    /// Cart Viewed.
    pub struct CartViewed {
        /// `cart_id`.
        pub cart_id: Option<String> = "cart_id",
        /// `products` in the cart.
        pub products: Vec<Product> = "products",
    }
}

props! {
    /// Checkout Started (v1: Started Order).
    pub struct CheckoutStarted {
        /// `order_id`.
        pub order_id: Option<String> = "order_id",
        /// `affiliation`: the store or affiliate.
        pub affiliation: Option<String> = "affiliation",
        /// `value`: the worth of the checkout (in place of `total`).
        pub value: Option<f64> = "value",
        /// `revenue`: excludes shipping and tax.
        pub revenue: Option<f64> = "revenue",
        /// `shipping`.
        pub shipping: Option<f64> = "shipping",
        /// `tax`.
        pub tax: Option<f64> = "tax",
        /// `discount`.
        pub discount: Option<f64> = "discount",
        /// `coupon`.
        pub coupon: Option<String> = "coupon",
        /// `currency` (ISO 4217).
        pub currency: Option<String> = "currency",
        /// `products` in the cart.
        pub products: Vec<Product> = "products",
    }
}

props! {
    /// Checkout Step Viewed (v1: Viewed Checkout Step).
    pub struct CheckoutStepViewed {
        /// `checkout_id`.
        pub checkout_id: Option<String> = "checkout_id",
        /// `step`: the step number.
        pub step: Option<f64> = "step",
        /// `shipping_method`.
        pub shipping_method: Option<String> = "shipping_method",
        /// `payment_method`.
        pub payment_method: Option<String> = "payment_method",
    }
}

props! {
    /// Checkout Step Completed (v1: Completed Checkout Step).
    pub struct CheckoutStepCompleted {
        /// `checkout_id`.
        pub checkout_id: Option<String> = "checkout_id",
        /// `step`: the step number.
        pub step: Option<f64> = "step",
        /// `shipping_method`.
        pub shipping_method: Option<String> = "shipping_method",
        /// `payment_method`.
        pub payment_method: Option<String> = "payment_method",
    }
}

props! {
    /// Payment Info Entered.
    pub struct PaymentInfoEntered {
        /// `checkout_id`.
        pub checkout_id: Option<String> = "checkout_id",
        /// `order_id`.
        pub order_id: Option<String> = "order_id",
        /// `step`: the step number.
        pub step: Option<f64> = "step",
        /// `shipping_method`.
        pub shipping_method: Option<String> = "shipping_method",
        /// `payment_method`.
        pub payment_method: Option<String> = "payment_method",
    }
}

props! {
    /// Order Updated (v1: Updated Order).
    pub struct OrderUpdated {
        /// `order_id`.
        pub order_id: Option<String> = "order_id",
        /// `affiliation`.
        pub affiliation: Option<String> = "affiliation",
        /// `total`: revenue with discounts applied.
        pub total: Option<f64> = "total",
        /// `revenue`: excludes shipping and tax.
        pub revenue: Option<f64> = "revenue",
        /// `shipping`.
        pub shipping: Option<f64> = "shipping",
        /// `tax`.
        pub tax: Option<f64> = "tax",
        /// `discount`.
        pub discount: Option<f64> = "discount",
        /// `coupon`.
        pub coupon: Option<String> = "coupon",
        /// `currency` (ISO 4217).
        pub currency: Option<String> = "currency",
        /// `products` of the order.
        pub products: Vec<Product> = "products",
    }
}

props! {
    /// Order Completed (v1: Completed Order).
    pub struct OrderCompleted {
        /// `checkout_id`.
        pub checkout_id: Option<String> = "checkout_id",
        /// `order_id`.
        pub order_id: Option<String> = "order_id",
        /// `affiliation`.
        pub affiliation: Option<String> = "affiliation",
        /// `subtotal`: after discounts, before shipping and tax.
        pub subtotal: Option<f64> = "subtotal",
        /// `total`: subtotal + shipping + tax.
        pub total: Option<f64> = "total",
        /// `revenue`: excludes shipping and tax.
        pub revenue: Option<f64> = "revenue",
        /// `shipping`.
        pub shipping: Option<f64> = "shipping",
        /// `tax`.
        pub tax: Option<f64> = "tax",
        /// `discount`.
        pub discount: Option<f64> = "discount",
        /// `coupon`.
        pub coupon: Option<String> = "coupon",
        /// `currency` (ISO 4217).
        pub currency: Option<String> = "currency",
        /// `products` of the order.
        pub products: Vec<Product> = "products",
    }
}

props! {
    /// Order Refunded. The spec's table lists only `order_id`; `total`, `currency` and
    /// `products` come from its example (a partial refund lists the refunded products).
    pub struct OrderRefunded {
        /// `order_id`.
        pub order_id: Option<String> = "order_id",
        /// `total` refunded.
        pub total: Option<f64> = "total",
        /// `currency` (ISO 4217).
        pub currency: Option<String> = "currency",
        /// `products` refunded.
        pub products: Vec<Product> = "products",
    }
}

props! {
    /// Order Cancelled.
    pub struct OrderCancelled {
        /// `order_id`.
        pub order_id: Option<String> = "order_id",
        /// `affiliation`.
        pub affiliation: Option<String> = "affiliation",
        /// `total`: revenue with discounts applied.
        pub total: Option<f64> = "total",
        /// `revenue`: excludes shipping and tax.
        pub revenue: Option<f64> = "revenue",
        /// `shipping`.
        pub shipping: Option<f64> = "shipping",
        /// `tax`.
        pub tax: Option<f64> = "tax",
        /// `discount`.
        pub discount: Option<f64> = "discount",
        /// `coupon`.
        pub coupon: Option<String> = "coupon",
        /// `currency` (ISO 4217).
        pub currency: Option<String> = "currency",
        /// `products` of the order.
        pub products: Vec<Product> = "products",
    }
}

props! {
    /// Coupon Entered.
    pub struct CouponEntered {
        /// `order_id`.
        pub order_id: Option<String> = "order_id",
        /// `cart_id`.
        pub cart_id: Option<String> = "cart_id",
        /// `coupon_id`.
        pub coupon_id: Option<String> = "coupon_id",
    }
}

props! {
    /// Coupon Applied.
    pub struct CouponApplied {
        /// `order_id`.
        pub order_id: Option<String> = "order_id",
        /// `cart_id`.
        pub cart_id: Option<String> = "cart_id",
        /// `coupon_id`.
        pub coupon_id: Option<String> = "coupon_id",
        /// `coupon_name`.
        pub coupon_name: Option<String> = "coupon_name",
        /// `discount` granted.
        pub discount: Option<f64> = "discount",
    }
}

props! {
    /// Coupon Denied.
    pub struct CouponDenied {
        /// `order_id`.
        pub order_id: Option<String> = "order_id",
        /// `cart_id`.
        pub cart_id: Option<String> = "cart_id",
        /// `coupon_id` (the spec's own example sends `coupon` instead; that stays an extra).
        pub coupon_id: Option<String> = "coupon_id",
        /// `coupon_name`.
        pub coupon_name: Option<String> = "coupon_name",
        /// `reason` it was denied.
        pub reason: Option<String> = "reason",
    }
}

props! {
    /// Coupon Removed.
    pub struct CouponRemoved {
        /// `order_id`.
        pub order_id: Option<String> = "order_id",
        /// `cart_id`.
        pub cart_id: Option<String> = "cart_id",
        /// `coupon_id`.
        pub coupon_id: Option<String> = "coupon_id",
        /// `coupon_name`.
        pub coupon_name: Option<String> = "coupon_name",
        /// `discount` withdrawn.
        pub discount: Option<f64> = "discount",
    }
}

props! {
    /// Product Added to Wishlist; the product is flat in `properties`.
    pub struct ProductAddedToWishlist {
        /// The product.
        pub product: flat Product,
        /// `wishlist_id`.
        pub wishlist_id: Option<String> = "wishlist_id",
        /// `wishlist_name`.
        pub wishlist_name: Option<String> = "wishlist_name",
    }
}

props! {
    /// Product Removed from Wishlist; the product is flat in `properties`.
    pub struct ProductRemovedFromWishlist {
        /// The product.
        pub product: flat Product,
        /// `wishlist_id`.
        pub wishlist_id: Option<String> = "wishlist_id",
        /// `wishlist_name`.
        pub wishlist_name: Option<String> = "wishlist_name",
    }
}

props! {
    /// Wishlist Product Added to Cart; the product is flat in `properties`.
    pub struct WishlistProductAddedToCart {
        /// The product.
        pub product: flat Product,
        /// `wishlist_id`.
        pub wishlist_id: Option<String> = "wishlist_id",
        /// `wishlist_name`.
        pub wishlist_name: Option<String> = "wishlist_name",
        /// `cart_id`.
        pub cart_id: Option<String> = "cart_id",
    }
}

props! {
    /// Product Shared; the product is flat in `properties` (no quantity, coupon or position).
    pub struct ProductShared {
        /// The product.
        pub product: flat Product,
        /// `share_via`: the channel (email, sms…).
        pub share_via: Option<String> = "share_via",
        /// `share_message`.
        pub share_message: Option<String> = "share_message",
        /// `recipient`.
        pub recipient: Option<String> = "recipient",
    }
}

props! {
    /// Cart Shared (its products list only `product_id`).
    pub struct CartShared {
        /// `share_via`: the channel.
        pub share_via: Option<String> = "share_via",
        /// `share_message`.
        pub share_message: Option<String> = "share_message",
        /// `recipient`.
        pub recipient: Option<String> = "recipient",
        /// `cart_id`.
        pub cart_id: Option<String> = "cart_id",
        /// `products` shared.
        pub products: Vec<Product> = "products",
    }
}

props! {
    /// Product Reviewed.
    pub struct ProductReviewed {
        /// `product_id`.
        pub product_id: Option<String> = "product_id",
        /// `review_id`.
        pub review_id: Option<String> = "review_id",
        /// `review_body`.
        pub review_body: Option<String> = "review_body",
        /// `rating`: a string in the spec (a number is read as its text).
        pub rating: Option<String> = "rating",
    }
}
