//! The event stream's machinery: the publisher and the numbering in commit order.

mod order;
