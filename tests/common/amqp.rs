//! AMQP for the broker tests, as a client of the test broker (see `broker.rs`): connect to a
//! vhost as a user, publish with a confirm, take messages with basic.get. Each call is
//! bounded by [`TIMEOUT`], so a broker that stops answering fails the test instead of
//! hanging it.
//!
//! Include after `broker.rs`: `#[path = "common/amqp.rs"] mod amqp;`.
#![allow(dead_code)]
// Test support: a failed set-up step is a failed test, with its message.
#![allow(clippy::unwrap_used)]

use std::time::{Duration, Instant};

use lapin::options::{BasicGetOptions, BasicPublishOptions, ConfirmSelectOptions};
use lapin::types::ShortString;
use lapin::{BasicProperties, Channel, Connection};

/// The bound of every AMQP call here.
pub const TIMEOUT: Duration = Duration::from_secs(10);

/// `f`, bounded by [`TIMEOUT`].
pub fn timed<F: std::future::IntoFuture>(f: F) -> tokio::time::Timeout<F::IntoFuture> {
    tokio::time::timeout(TIMEOUT, f)
}

/// The test broker's AMQP URL for `vhost` (percent-encoded) as `user`.
pub fn url(user: &str, password: &str, vhost: &str) -> String {
    format!(
        "{}/{}",
        crate::broker::with_user(&crate::broker::amqp(), user, password),
        percent_encoding::utf8_percent_encode(vhost, percent_encoding::NON_ALPHANUMERIC)
    )
}

/// A connection to `vhost` as `user`.
pub async fn connect(user: &str, password: &str, vhost: &str) -> Connection {
    timed(Connection::connect(
        &url(user, password, vhost),
        Default::default(),
    ))
    .await
    .expect("AMQP connect in time")
    .expect("AMQP connect")
}

/// `f` on a channel of a connection to `vhost` as `user`, closed after it.
fn with_channel<T>(
    user: &str,
    password: &str,
    vhost: &str,
    f: impl AsyncFnOnce(&Channel) -> T,
) -> T {
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let conn = connect(user, password, vhost).await;
        let ch = timed(conn.create_channel())
            .await
            .unwrap()
            .expect("channel");
        let out = f(&ch).await;
        let _ = timed(conn.close(200, "done".into())).await;
        out
    })
}

/// Publish `body` to `exchange` with `key` in `vhost` as `user`, with a confirm: true when
/// the broker acks it, false when it refuses it (the channel closes, e.g. ACCESS_REFUSED).
pub fn publish(
    user: &str,
    password: &str,
    vhost: &str,
    exchange: &str,
    key: &str,
    body: &str,
) -> bool {
    with_channel(user, password, vhost, async |ch| {
        timed(ch.confirm_select(ConfirmSelectOptions::default()))
            .await
            .unwrap()
            .expect("confirm.select");
        let published = timed(ch.basic_publish(
            ShortString::from(exchange),
            ShortString::from(key),
            BasicPublishOptions::default(),
            body.as_bytes(),
            BasicProperties::default(),
        ))
        .await
        .expect("publish in time");
        match published {
            Err(_) => false,
            Ok(confirm) => matches!(timed(confirm).await, Ok(Ok(c)) if c.is_ack()),
        }
    })
}

/// The bodies `queue` in `vhost` holds, taken as `user` one by one with basic.get (no ack)
/// until `n` came or `within` passed.
pub fn receive(
    user: &str,
    password: &str,
    vhost: &str,
    queue: &str,
    n: usize,
    within: Duration,
) -> Vec<String> {
    with_channel(user, password, vhost, async |ch| {
        let deadline = Instant::now() + within;
        let mut got = Vec::new();
        while got.len() < n && Instant::now() < deadline {
            let m = timed(ch.basic_get(ShortString::from(queue), BasicGetOptions { no_ack: true }))
                .await
                .unwrap()
                .expect("basic.get");
            match m {
                Some(m) => got.push(String::from_utf8_lossy(&m.delivery.data).into_owned()),
                None => tokio::time::sleep(Duration::from_millis(200)).await,
            }
        }
        got
    })
}
