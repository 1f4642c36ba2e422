//! Events are numbered in the order they became visible, so a reader that has seen `seq = s`
//! never misses a row that commits later: the case a plain `bigserial` gets wrong (taken at
//! insert, so a transaction that inserted first and commits last lands behind the reader).

use std::time::Duration;

use hoody_api::events::{self, publish, Event, EventKind, ResourceType};
use serde_json::json;
use sqlx::postgres::PgListener;

use crate::harness::TestApp;

fn event(n: i64) -> Event {
    Event::new(
        EventKind::ProjectUpdated,
        ResourceType::Project,
        &hoody_api::db::new_id(),
        "u0000000000000000000000a",
        json!({"n": n}),
    )
}

#[tokio::test]
async fn two_transactions_that_commit_out_of_order_are_read_in_commit_order_with_no_gap() {
    let app = TestApp::spawn().await;
    let mut early = app.db.begin().await.unwrap();
    publish(&mut early, event(1)).await.unwrap();
    let mut late = app.db.begin().await.unwrap();
    publish(&mut late, event(2)).await.unwrap();
    late.commit().await.unwrap();

    events::number_pending(&app.db).await.unwrap();
    let seen = events::after(&app.db, 0, 100).await.unwrap();
    assert_eq!(seen.len(), 1, "only the committed event is readable");
    assert_eq!(seen[0].data["n"], 2);
    let cursor = seen[0].seq;

    early.commit().await.unwrap();
    events::number_pending(&app.db).await.unwrap();
    let next = events::after(&app.db, cursor, 100).await.unwrap();
    assert_eq!(next.len(), 1, "the event that committed late comes after the cursor, not before it");
    assert_eq!(next[0].data["n"], 1);
    assert!(next[0].seq > cursor);

    // The insert order was the other way round: numbering by it would have put n=1 behind the
    // reader's cursor, and the reader would never have seen it.
    let ids: Vec<i64> =
        sqlx::query_scalar("select id from event order by (data->>'n')::int").fetch_all(&app.db).await.unwrap();
    assert!(ids[0] < ids[1], "n=1 was inserted first");
}

#[tokio::test]
async fn an_event_exists_only_if_its_transaction_commits_and_numbering_is_announced() {
    let app = TestApp::spawn().await;
    let mut listener = PgListener::connect_with(&app.db).await.unwrap();
    listener.listen(events::CHANNEL).await.unwrap();

    let mut rolled_back = app.db.begin().await.unwrap();
    publish(&mut rolled_back, event(7)).await.unwrap();
    rolled_back.rollback().await.unwrap();
    let mut tx = app.db.begin().await.unwrap();
    publish(&mut tx, event(8)).await.unwrap();
    tx.commit().await.unwrap();

    // The numberer runs by itself (woken by the commit) and announces the highest number.
    let note = tokio::time::timeout(Duration::from_secs(10), listener.recv()).await.expect("announced").unwrap();
    let seq: i64 = note.payload().parse().unwrap();
    let all = events::after(&app.db, 0, 100).await.unwrap();
    assert_eq!(all.len(), 1, "the rolled-back event does not exist");
    assert_eq!(all[0].data["n"], 8);
    assert_eq!(all[0].seq, seq);
}

#[tokio::test]
async fn many_concurrent_publishers_give_a_dense_increasing_stream() {
    let app = TestApp::spawn().await;
    let writers = (0..20).map(|i| {
        let db = app.db.clone();
        async move {
            let mut tx = db.begin().await.unwrap();
            publish(&mut tx, event(i)).await.unwrap();
            tokio::time::sleep(Duration::from_millis((i % 5) as u64 * 7)).await;
            tx.commit().await.unwrap();
        }
    });
    // A reader follows the stream while it is written, as a socket would.
    let reader = async {
        let mut cursor = 0;
        let mut got = Vec::new();
        for _ in 0..400 {
            events::number_pending(&app.db).await.unwrap();
            for e in events::after(&app.db, cursor, 100).await.unwrap() {
                assert!(e.seq > cursor);
                cursor = e.seq;
                got.push(e.data["n"].as_i64().unwrap());
            }
            if got.len() == 20 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        got
    };
    let (_, mut got) = tokio::join!(futures::future::join_all(writers), reader);
    got.sort();
    assert_eq!(got, (0..20).collect::<Vec<_>>(), "the reader saw every event exactly once");
}
