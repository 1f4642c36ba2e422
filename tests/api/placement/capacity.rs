//! The freer server wins, by the hosts' real figures and by synthetic ones; a disabled, a
//! draining and an unreachable server is never chosen; two placements at once both land.

use std::time::{Duration, Instant};

use hoody_api::{
    host::fault::Fault,
    placement::{choose, Ask},
};
use serde_json::json;

use super::{anywhere, machine, Two};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_create_without_a_server_goes_to_the_one_with_more_room() {
    let two = Two::spawn().await;
    let u = two.verified_user("roomy@example.com").await;
    let p = two.project(&u.token, "placed").await;
    // Both hosts read through counting drivers with LXD's real figures (one machine: the same
    // memory and disk, so our counts decide).
    let local = two.pin(&two.local, None).await;
    let remote = two.pin(&two.remote, None).await;
    for name in ["l-1", "l-2"] {
        let r = two.create(&u.token, &p, json!({"name": name, "server_id": two.local})).await;
        r.expect(201);
    }
    assert_eq!((local.calls("create"), local.calls("resources")), (2, 0), "a named server is not measured");

    assert_eq!(two.placed(&u.token, &p, anywhere("auto-1")).await, two.remote);
    assert_eq!(remote.calls("create"), 1, "the remote endpoint was asked to create it");
    assert_eq!(local.calls("create"), 2);
    assert_eq!((local.calls("resources"), remote.calls("resources")), (1, 1));
    // 2 against 1: the remote again; the reading is reused within its TTL.
    assert_eq!(two.placed(&u.token, &p, anywhere("auto-2")).await, two.remote);
    assert_eq!((local.calls("resources"), remote.calls("resources")), (1, 1), "cached");
    // 2 against 2: a tie goes to the first by name.
    assert_eq!(two.placed(&u.token, &p, anywhere("auto-3")).await, two.local);
    assert_eq!((local.calls("create"), remote.calls("create")), (3, 2));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn synthetic_capacities_decide_and_unfit_servers_are_never_chosen() {
    let two = Two::spawn().await;
    let u = two.verified_user("fit@example.com").await;
    let p = two.project(&u.token, "fit").await;
    let big = Some(machine(64, 256, 1000));
    let small = Some(machine(2, 4, 50));

    // More memory and threads win, whoever holds more containers.
    two.pin(&two.local, small.clone()).await;
    two.pin(&two.remote, big.clone()).await;
    assert_eq!(two.placed(&u.token, &p, anywhere("big-remote")).await, two.remote);
    two.pin(&two.local, big.clone()).await;
    two.pin(&two.remote, small.clone()).await;
    assert_eq!(two.placed(&u.token, &p, anywhere("big-local")).await, two.local);
    // Memory for one more nominal container (512 MiB) but no disk (2 GiB): full.
    two.pin(&two.local, Some(machine(64, 256, 1))).await;
    assert_eq!(two.placed(&u.token, &p, anywhere("no-disk-local")).await, two.remote);

    // From here the remote is the far bigger one, but unfit in turn.
    two.pin(&two.local, small.clone()).await;
    // Disabled.
    two.set(&two.remote, "is_enabled = false").await;
    let f = two.pin(&two.remote, big.clone()).await;
    assert_eq!(two.placed(&u.token, &p, anywhere("not-disabled")).await, two.local);
    assert_eq!(f.calls("resources"), 0, "a disabled server is not even measured");
    two.set(&two.remote, "is_enabled = true").await;
    // Draining.
    hoody_api::servers::drain(&two.db, "remote", true).await.unwrap();
    assert_eq!(two.placed(&u.token, &p, anywhere("not-draining")).await, two.local);
    hoody_api::servers::drain(&two.db, "remote", false).await.unwrap();
    // Unreachable: its figures fail.
    two.pin(&two.remote, big.clone()).await.set(Fault::Fail);
    assert_eq!(two.placed(&u.token, &p, anywhere("not-failing")).await, two.local);
    // Unreachable: it never answers; the placement waits 2 s at most.
    two.pin(&two.remote, big.clone()).await.set(Fault::Blackhole);
    let t = Instant::now();
    assert_eq!(two.placed(&u.token, &p, anywhere("not-silent")).await, two.local);
    assert!(t.elapsed() < Duration::from_secs(8), "waited {:?}", t.elapsed());
    // Unreachable: its breaker is open (five failures), although the host answers again.
    let f = two.pin(&two.remote, big.clone()).await;
    f.set(Fault::Fail);
    let host = two
        .state
        .hosts
        .for_server(&hoody_api::servers::by_id(&two.db, &two.remote).await.unwrap().unwrap(), &two.state.sealer)
        .unwrap();
    for _ in 0..5 {
        assert!(host.call("info", |d| d.info()).await.is_err());
    }
    f.set(Fault::None);
    assert_eq!(host.breaker_state(), hoody_api::host::breaker::BreakerState::Open);
    assert_eq!(two.placed(&u.token, &p, anywhere("not-broken")).await, two.local);
    assert_eq!(f.calls("resources"), 0, "an open breaker lets no read through");

    // Neither reachable: 503 naming why, nothing recorded, nothing asked of a host.
    let before = two.containers().await;
    let l = two.pin(&two.local, None).await;
    l.set(Fault::Fail);
    let r = two.pin(&two.remote, None).await;
    r.set(Fault::Fail);
    let resp = two.create(&u.token, &p, anywhere("nowhere")).await;
    resp.expect(503);
    assert_eq!(resp.code(), "no_server_available");
    assert!(resp.body["message"].as_str().unwrap().contains("2 unreachable"), "{}", resp.text);
    assert!(resp.headers.get("retry-after").is_some());
    assert_eq!(two.containers().await, before);
    assert_eq!((l.calls("create"), r.calls("create")), (0, 0));
    // A named server is not measured: the create goes to it and fails there as before.
    let resp = two.create(&u.token, &p, json!({"name": "named", "server_id": two.local})).await;
    assert_eq!(resp.status.as_u16(), 502, "{}", resp.text);
    assert_eq!(l.calls("resources"), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_placements_at_once_both_land_and_spread() {
    let two = Two::spawn().await;
    let u = two.verified_user("twice@example.com").await;
    let p = two.project(&u.token, "twice").await;
    let figures = Some(machine(8, 64, 500));
    let (local, remote) = (two.pin(&two.local, figures.clone()).await, two.pin(&two.remote, figures).await);
    let (a, b) =
        tokio::join!(two.placed(&u.token, &p, anywhere("at-once-a")), two.placed(&u.token, &p, anywhere("at-once-b")));
    let mut landed = vec![a, b];
    landed.sort();
    let mut both = vec![two.local.clone(), two.remote.clone()];
    both.sort();
    assert_eq!(landed, both, "one on each: the second saw the first's placement under way");
    assert_eq!((local.calls("create"), remote.calls("create")), (1, 1));

    // Whether or not those two overlapped: a placement under way counts against its server
    // until its container is recorded (or it is dropped).
    let ask = Ask { owner: &u.user_id, region: None, free_only: false, only: None };
    let first = choose(&two.state, &ask).await.unwrap();
    let second = choose(&two.state, &ask).await.unwrap();
    assert_eq!((first.server.name.as_str(), second.server.name.as_str()), ("local", "remote"));
    drop((first, second));
    assert_eq!(choose(&two.state, &ask).await.unwrap().server.name, "local");
}
