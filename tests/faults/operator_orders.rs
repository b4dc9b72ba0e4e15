//! An operator's word outlives a Redis that restarts empty: a worker told to be quiet
//! stays quiet, a paused queue stays paused (both used to be lost with the keys, so the
//! quieted worker took jobs again), also a pause no worker was alive to read (its copy in
//! the history's database); and a later resume or withdrawn command still counts.

use std::time::Duration;

use tickstock_protocol::status::JobState;
use tickstock_queue::bus::{Bus, WorkerCommand, WorkerState};
use tickstock_testkit::redis_server::RedisServer;

use crate::support::{self, fast_worker_config, job, sim_worker, wait_for, wait_state};

/// Submits `job` once Redis answers again (the first commands after a restart may fail
/// while the connection is made again).
async fn submit_when_back(bus: &Bus, j: &tickstock_protocol::job::Job) {
    wait_for(
        Duration::from_secs(10),
        "Redis back for a submit",
        || async { bus.submit(j).await.ok() },
    )
    .await;
}

async fn wait_registered(bus: &Bus, id: &str) {
    wait_for(
        Duration::from_secs(10),
        "the worker's heartbeat",
        || async {
            bus.workers(Duration::from_secs(60))
                .await
                .ok()
                .filter(|ws| ws.iter().any(|w| w.id == id))
                .map(|_| ())
        },
    )
    .await;
}

/// The state a job is left in for `secs` seconds: it must not start.
async fn assert_waits(bus: &Bus, id: &str, secs: u64, why: &str) {
    tokio::time::sleep(Duration::from_secs(secs)).await;
    let st = bus.status(id).await.unwrap().unwrap();
    assert_eq!(st.state, JobState::Submitted, "{why}: {st:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_quiet_worker_stays_quiet_after_redis_restarts_empty() {
    let mut server = RedisServer::start();
    let bus = support::bus_at(&server.url(), "orders").await;
    // Two slots read the orders at once: neither forgets what the other puts back.
    let cfg = tickstock_queue::worker::WorkerConfig {
        concurrency: 2,
        ..fast_worker_config()
    };
    let (w, stop) = sim_worker(&bus, Duration::from_millis(20), cfg);
    let run = tokio::spawn({
        let w = w.clone();
        async move { w.run().await }
    });
    wait_registered(&bus, w.id()).await;
    bus.send_worker_command(w.id(), WorkerCommand::Quiet, "ana")
        .await
        .unwrap();
    let before = job(&["AAPL"]);
    bus.submit(&before).await.unwrap();
    assert_waits(&bus, &before.id, 1, "a quiet worker takes no job").await;

    server.restart_empty();
    let after = job(&["MSFT"]);
    submit_when_back(&bus, &after).await;
    assert_waits(
        &bus,
        &after.id,
        2,
        "still quiet after Redis restarted empty",
    )
    .await;
    let rows = bus.worker_rows().await.unwrap();
    let me = rows.iter().find(|r| r.info.id == w.id()).expect("listed");
    assert_eq!(me.state, WorkerState::Quiet, "{me:?}");
    assert_eq!(
        me.command.as_ref().map(|c| c.requested_by.as_str()),
        Some("ana"),
        "the operator's command, put back as it was"
    );

    // Withdrawn by the operator afterwards: the worker takes jobs again.
    assert!(bus.clear_worker_command(w.id()).await.unwrap());
    wait_state(
        &bus,
        &after.id,
        JobState::Completed,
        Duration::from_secs(20),
    )
    .await;
    stop.cancel();
    run.await.unwrap().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_paused_queue_stays_paused_after_redis_restarts_empty() {
    let mut server = RedisServer::start();
    let bus = support::bus_at(&server.url(), "orders").await;
    let (w, stop) = sim_worker(&bus, Duration::from_millis(20), fast_worker_config());
    let run = tokio::spawn({
        let w = w.clone();
        async move { w.run().await }
    });
    wait_registered(&bus, w.id()).await;
    assert!(bus.pause_queue("ana").await.unwrap());
    let before = job(&["AAPL"]);
    bus.submit(&before).await.unwrap();
    assert_waits(&bus, &before.id, 1, "nothing starts while paused").await;

    server.restart_empty();
    let after = job(&["MSFT"]);
    submit_when_back(&bus, &after).await;
    assert_waits(
        &bus,
        &after.id,
        2,
        "still paused after Redis restarted empty",
    )
    .await;
    let pause = bus.queue_paused().await.unwrap().expect("paused");
    assert_eq!(pause.requested_by, "ana");

    // Resumed by the operator afterwards: the job runs.
    assert!(bus.resume_queue().await.unwrap());
    wait_state(
        &bus,
        &after.id,
        JobState::Completed,
        Duration::from_secs(20),
    )
    .await;
    stop.cancel();
    run.await.unwrap().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pause_no_worker_read_outlives_an_empty_restart_through_the_history() {
    use tickstock_data::history::StoreHistory;
    use tickstock_data::store::Store;

    let mut server = RedisServer::start();
    let bus = support::bus_at(&server.url(), "orders-durable").await;
    let pg = tickstock_testkit::pg::fresh_database().await;
    let store = Store::connect(&pg.url)
        .await
        .expect("the history's database");
    let service = support::service(&bus, &store);
    // Paused while no worker runs: only Redis and the history's copy know it.
    assert!(service.pause_queue("ana").await.unwrap());
    assert!(
        !service.pause_queue("bob").await.unwrap(),
        "a second pause is no change"
    );
    let key = bus.keys().queue_paused();
    let copy = store
        .operator_order(&key)
        .await
        .unwrap()
        .expect("a copy kept");
    assert!(copy.contains("\"ana\""), "{copy}");

    server.restart_empty();
    let first = job(&["AAPL"]);
    submit_when_back(&bus, &first).await;
    assert!(
        bus.queue_paused().await.unwrap().is_none(),
        "Redis came back empty"
    );
    // A worker that writes this history starts: it puts the pause back before it takes a job.
    let shutdown = tokio_util::sync::CancellationToken::new();
    let runner = tickstock_testkit::sim::SimRunner::new(Duration::from_millis(20));
    let w = tickstock_queue::worker::Worker::with_history(
        bus.clone(),
        std::sync::Arc::new(runner),
        fast_worker_config(),
        shutdown.clone(),
        Some(std::sync::Arc::new(StoreHistory(store.clone()))),
    );
    let run = tokio::spawn({
        let w = w.clone();
        async move { w.run().await }
    });
    wait_registered(&bus, w.id()).await;
    assert_waits(
        &bus,
        &first.id,
        2,
        "paused by the history's copy after Redis restarted empty",
    )
    .await;
    let pause = bus
        .queue_paused()
        .await
        .unwrap()
        .expect("the pause put back");
    assert_eq!(pause.requested_by, "ana");

    // Resumed through the service: Redis and the copy both let go, and the job runs.
    assert!(service.resume_queue().await.unwrap());
    assert_eq!(store.operator_order(&key).await.unwrap(), None);
    wait_state(
        &bus,
        &first.id,
        JobState::Completed,
        Duration::from_secs(20),
    )
    .await;
    // Emptied again, nothing pauses the queue any more.
    server.restart_empty();
    let second = job(&["MSFT"]);
    submit_when_back(&bus, &second).await;
    wait_state(
        &bus,
        &second.id,
        JobState::Completed,
        Duration::from_secs(30),
    )
    .await;
    shutdown.cancel();
    run.await.unwrap().unwrap();
    store.close().await;
}
