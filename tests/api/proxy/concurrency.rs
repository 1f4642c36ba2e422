//! Writers over HTTP at once: ten holding one version → exactly one wins and nine get 412 with
//! the version it made; eight writers retrying on 412 (with the current version) each add their
//! own groups and rules, and the document ends with every one of them at a version equal to the
//! number of writes, the last 50 versions kept.

use std::time::Instant;

use reqwest::Method;
use serde_json::{json, Value};

use super::{events, fx, kept, stored, write_at, Doc, Fx};

/// Ten `attempt(i)` writes at once holding version `v`: exactly one 200 at `v + 1`, nine 412
/// naming `v + 1`.
async fn race(fx: &Fx, doc: &Doc, v: i64, attempt: impl Fn(usize) -> (Method, String, Value)) {
    let tries = (0..10).map(|i| {
        let (method, suffix, body) = attempt(i);
        async move { write_at(fx, method, &doc.at(&suffix), &fx.owner.token, v, Some(body)).await }
    });
    let answers = futures::future::join_all(tries).await;
    let won: Vec<_> = answers.iter().filter(|r| r.status == 200).collect();
    assert_eq!(won.len(), 1, "{:?}", answers.iter().map(|r| &r.text).collect::<Vec<_>>());
    assert_eq!(won[0].data()["file_version"], v + 1);
    for r in answers.iter().filter(|r| r.status != 200) {
        r.expect(412);
        assert_eq!(r.code(), "version_mismatch");
        assert_eq!(r.body["details"]["current_file_version"], v + 1, "{}", r.text);
    }
    assert_eq!(stored(fx, doc).await.0, v + 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn of_ten_writers_holding_one_version_exactly_one_wins() {
    let fx = fx().await;
    for doc in [fx.cdoc(), fx.pdoc()] {
        // The first write (no document yet), then on a written one: per-type group routes.
        race(&fx, &doc, 0, |i| (Method::PUT, format!("/groups/g{i}/ip"), json!({"range": format!("10.{i}.0.0/16")})))
            .await;
        race(&fx, &doc, 1, |i| (Method::PUT, format!("/groups/h{i}/token"), json!({"header": "X-K", "value": "v"})))
            .await;
        // The default, all writers sending the same change.
        race(&fx, &doc, 2, |_| (Method::PATCH, "/default".into(), json!({"default": "allow"}))).await;
        // Whole documents.
        race(&fx, &doc, 3, |i| {
            (
                Method::PUT,
                String::new(),
                doc.whole(json!({"groups": {format!("w{i}"): {"type": "ip", "range": "1.0.0.0/8"}}})),
            )
        })
        .await;
        // The winner's changes only: one g, one h, one w group in the versions.
        let (_, body) = stored(&fx, &doc).await;
        let groups = body.unwrap()["groups"].as_object().unwrap().keys().cloned().collect::<Vec<_>>();
        assert_eq!(groups.len(), 1, "{groups:?}");
        let r = fx.get(&doc.at("?version=2"), Some(&fx.owner.token)).await;
        r.expect(200);
        let names: Vec<&String> = r.data()["groups"].as_object().unwrap().keys().collect();
        assert_eq!(names.len(), 2, "one g and one h: {names:?}");
        assert_eq!(events(&fx, &doc).await.len(), 4, "one event per write that happened");
        assert_eq!(kept(&fx, &doc).await, [1, 2, 3, 4]);
    }
}

/// Writer `w`'s ops: a group every 50 (`w{w}g{k}`, an IP group), rules `p{j}` in between.
fn op(doc: &Doc, w: usize, j: usize) -> (Method, String, Value) {
    let group = format!("w{w}g{}", j / 50);
    if j % 50 == 0 {
        (Method::PUT, doc.at(&format!("/groups/{group}/ip")), json!({"range": format!("10.{w}.{}.0/24", j / 50)}))
    } else {
        (
            Method::PUT,
            doc.at(&format!("/permissions/{group}")),
            json!({"program": format!("p{j}"), "access": j % 2 == 0}),
        )
    }
}

/// Writer `w` doing its `n` ops, each retried on 412 with the current version (even writers
/// read it again, odd ones take the one the 412 names); returns how many 412s it got.
async fn writer(fx: &Fx, doc: &Doc, w: usize, n: usize) -> usize {
    let t = &fx.owner.token;
    let mut v = fx.get(&doc.at(""), Some(t)).await.data()["file_version"].as_i64().unwrap();
    let mut stale = 0;
    for j in 0..n {
        let (method, path, body) = op(doc, w, j);
        loop {
            let r = write_at(fx, method.clone(), &path, t, v, Some(body.clone())).await;
            match r.status.as_u16() {
                200 => {
                    v = r.data()["file_version"].as_i64().unwrap();
                    break;
                }
                412 => {
                    stale += 1;
                    let told = r.body["details"]["current_file_version"].as_i64().unwrap();
                    assert_ne!(told, v, "a 412 names another version than the one sent: {}", r.text);
                    if w % 2 == 0 {
                        // Half the writers read the document again…
                        let g = fx.get(&doc.at(""), Some(t)).await;
                        g.expect(200);
                        v = g.data()["file_version"].as_i64().unwrap();
                        assert!(v >= told, "a read after a 412 is not older than the version it named");
                    } else {
                        // … the other half take the version the 412 names.
                        v = told;
                    }
                }
                _ => panic!("writer {w} op {j}: {method} {path}: {}", r.text),
            }
        }
    }
    stale
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn eight_writers_retrying_on_412_lose_nothing() {
    const WRITERS: usize = 8;
    const EACH: usize = 125;
    let fx = fx().await;
    let doc = fx.cdoc();
    // A first write so every writer starts from a document (not all at version 0).
    let r =
        write_at(&fx, Method::PATCH, &doc.at("/default"), &fx.owner.token, 0, Some(json!({"default": "deny"}))).await;
    r.expect(200);
    let started = Instant::now();
    let stale: usize =
        futures::future::join_all((0..WRITERS).map(|w| writer(&fx, &doc, w, EACH))).await.into_iter().sum();
    let took = started.elapsed();
    eprintln!("{} writes by {WRITERS} writers in {took:?} ({stale} answered 412 and were retried)", WRITERS * EACH);
    let total = (WRITERS * EACH) as i64 + 1;

    let r = fx.get(&doc.at(""), Some(&fx.owner.token)).await;
    r.expect(200);
    let d = r.data();
    assert_eq!(d["file_version"], total);
    assert_eq!(stored(&fx, &doc).await.0, total);
    // Every group and every rule of every writer.
    let groups = d["groups"].as_object().unwrap();
    let perms = d["permissions"].as_object().unwrap();
    let per_writer = EACH.div_ceil(50);
    assert_eq!(groups.len(), WRITERS * per_writer, "{:?}", groups.keys().collect::<Vec<_>>());
    for w in 0..WRITERS {
        for j in 0..EACH {
            let group = format!("w{w}g{}", j / 50);
            if j % 50 == 0 {
                assert_eq!(groups[&group]["range"], format!("10.{w}.{}.0/24", j / 50));
            } else {
                assert_eq!(perms[&group][format!("p{j}")], json!(j % 2 == 0), "writer {w} rule p{j}");
            }
        }
    }
    let rules: usize = perms.values().map(|p| p.as_object().unwrap().len()).sum();
    assert_eq!(rules, WRITERS * (EACH - per_writer));
    // One event per write; the last 50 versions kept, older ones gone.
    assert_eq!(events(&fx, &doc).await.len() as i64, total);
    assert_eq!(kept(&fx, &doc).await, (total - 49..=total).collect::<Vec<i64>>());
    let r = fx.get(&doc.at(&format!("?version={}", total - 49)), Some(&fx.owner.token)).await;
    r.expect(200);
    assert_eq!(r.data()["file_version"], total - 49);
    for pruned in [1, total - 50] {
        let r = fx.get(&doc.at(&format!("?version={pruned}")), Some(&fx.owner.token)).await;
        r.expect(404);
        assert_eq!(r.code(), "document_version_not_found");
    }
}
