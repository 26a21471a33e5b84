//! Starting the server and its delivery workers, draining them, stopping them.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use hookpost_delivery::operator::SignedWebhook;
use hookpost_delivery::queue::{spawn_workers, TaskHandler};
use hookpost_delivery::sweep::return_lost_retriggers;
use hookpost_http::App;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinSet;

use crate::server::{serve, Server};
use crate::{generate_admin_key, open_app, open_delivery, prometheus, routes, Delivery, Options, StartError};

/// A started server: where it listens, its admin key, and how to stop it.
pub struct Running {
    pub addr: SocketAddr,
    pub admin_key: String,
    pub app: Arc<App>,
    pub delivery: Delivery,
    stop: watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
    workers: JoinSet<()>,
    drain: watch::Sender<bool>,
}

/// What a graceful shutdown did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Drained {
    /// Whether every delivery worker finished within the grace period.
    pub finished: bool,
    /// Delivery tasks left in the in-process queue (forgotten: the memory mode keeps
    /// nothing); always 0 with the durable queue, which keeps them.
    pub forgotten: usize,
}

impl Running {
    /// Stops accepting, lets requests in flight finish (up to 10 s), stops the workers
    /// at once, and returns.
    pub async fn shutdown(self) {
        self.shutdown_gracefully(Duration::ZERO).await;
    }

    /// SIGTERM's shutdown: stops accepting, lets requests in flight finish (up to 10 s),
    /// then lets every delivery worker finish the task it holds, taking no other, for up to
    /// `grace`. What is cut after that goes back to the durable queue (after its visibility
    /// timeout); in memory it is lost, and said so.
    pub async fn shutdown_gracefully(mut self, grace: Duration) -> Drained {
        let _ = self.stop.send(true);
        let _ = self.task.await;
        let _ = self.drain.send(true);
        let workers = &mut self.workers;
        let finished = !grace.is_zero()
            && tokio::time::timeout(grace, async { while workers.join_next().await.is_some() {} }).await.is_ok();
        if !finished && !grace.is_zero() {
            let busy = self.workers.len();
            if self.delivery.is_durable() {
                tracing::warn!(busy, grace_secs = grace.as_secs(), "deliveries still running after the grace period were cut; their tasks return to the queue after its visibility timeout");
            } else {
                tracing::warn!(
                    busy,
                    grace_secs = grace.as_secs(),
                    "deliveries still running after the grace period were cut and are lost (memory store)"
                );
            }
        }
        self.workers.shutdown().await;
        // What the last deliveries used and delivered (a kill -9 loses up to a second of counts
        // and `deliveries` lines, never a task: the attempt log has every attempt).
        self.app.write_tallies().await;
        let forgotten = match &self.delivery {
            Delivery::InProcess(queue) => queue.len(),
            Delivery::Sqs(_) => 0,
        };
        if forgotten > 0 {
            tracing::warn!(
                forgotten,
                "delivery tasks still queued in memory are forgotten (keep state in DynamoDB to keep them)"
            );
        }
        if finished {
            tracing::info!("every delivery in flight finished");
        }
        Drained { finished, forgotten }
    }

    /// Stops the delivery workers only (tests use it to kill a worker mid-attempt).
    pub async fn stop_workers(&mut self) {
        self.workers.shutdown().await;
    }

    /// Starts `n` delivery workers on the queue.
    pub fn start_workers(&mut self, n: usize) {
        let (drain, draining) = watch::channel(false);
        self.drain = drain;
        self.workers = spawn_delivery(&self.app, &self.delivery, n, &draining);
    }
}

/// Runs `workers` delivery workers over the queue, and the sweeper, until `drain` turns true.
pub fn spawn_delivery(
    app: &Arc<App>,
    delivery: &Delivery,
    workers: usize,
    drain: &watch::Receiver<bool>,
) -> JoinSet<()> {
    let mut set = match delivery {
        Delivery::InProcess(queue) => {
            let for_workers = Arc::clone(app);
            let handler: TaskHandler = Arc::new(move |task| {
                let app = Arc::clone(&for_workers);
                Box::pin(async move {
                    let worker = app.worker().map_err(|_| ())?;
                    match worker.process(&task).await {
                        Ok(hookpost_delivery::Handled::Done) => Ok(None),
                        Ok(hookpost_delivery::Handled::Hold(wait)) => Ok(Some(wait)),
                        Err(err) => {
                            tracing::warn!(error = %err, event_id = %task.event_id, "delivery task will be retried");
                            Err(())
                        }
                    }
                })
            });
            spawn_workers(Arc::clone(queue), workers, handler, drain.clone())
        }
        Delivery::Sqs(queues) => queues.spawn(app, workers, drain),
    };
    // Usage and the delivered log are written every second (and once more when the workers
    // have stopped), not once a handler call: the in-process workers and the durable queues' loop hand the handlers
    // one task at a time (`App::with_tallies_on_a_timer`, set in `start_with_app`).
    let writing = Arc::clone(app);
    set.spawn(every(TALLIES_WRITE_EVERY, drain.clone(), move || {
        let app = Arc::clone(&writing);
        async move { app.write_tallies().await }
    }));
    let app = Arc::clone(app);
    set.spawn(every(SWEEP_EVERY, drain.clone(), move || {
        let app = Arc::clone(&app);
        async move {
            match return_lost_retriggers(app.store.as_ref(), app.clock.now()).await {
                Ok(0) => {}
                Ok(returned) => tracing::info!(log = "sweep", returned, "swept lost retriggers"),
                Err(err) => tracing::warn!(error = %err, "sweeping lost retriggers failed"),
            }
        }
    }));
    set
}

/// Runs `work` every `period` until `drain` turns true.
async fn every<F, Fut>(period: Duration, mut drain: watch::Receiver<bool>, work: F)
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    loop {
        tokio::select! {
            _ = drain.wait_for(|draining| *draining) => return,
            () = tokio::time::sleep(period) => {}
        }
        work().await;
    }
}

/// How often hookpost-local looks for retriggers lost for 15 minutes.
pub const SWEEP_EVERY: Duration = Duration::from_secs(30);
/// How often hookpost-local logs the attempts it delivered and adds the usage it counted to
/// the hourly counters.
pub const TALLIES_WRITE_EVERY: Duration = Duration::from_secs(1);

/// Binds and serves in the background, with the delivery workers.
pub async fn start(options: Options) -> Result<Running, StartError> {
    let mut app = open_app(&options.config).await?;
    let delivery = open_delivery(&options.config).await?;
    if let Some((url, secret)) = &options.operator_webhook {
        let webhook = SignedWebhook::new(url, secret, Arc::clone(&app.clock))?;
        app = app.with_operator_events(Arc::new(Arc::new(webhook)));
        // The origin only: such URLs often carry their secret in the path or the query.
        let origin =
            url::Url::parse(url).map_or_else(|_| "(unparsable)".to_owned(), |u| u.origin().ascii_serialization());
        tracing::info!(to = %origin, "operator events go to a webhook at {origin} (its path is not logged)");
    }
    start_with_app(options.addr, options.admin_key, app, delivery, options.workers).await
}

/// Serves `app` with `delivery`'s queue and `workers` delivery workers on it.
pub async fn start_with_app(
    addr: SocketAddr,
    admin_key: Option<String>,
    app: App,
    delivery: Delivery,
    workers: usize,
) -> Result<Running, StartError> {
    // Tasks are sent to the app's queue: `delivery`'s, unless the caller gave the app one of
    // its own in front of it (tests put a fault injector there).
    let app = app.with_tallies_on_a_timer();
    let app = if app.queue.is_some() { app } else { app.with_queue(delivery.queue()) };
    // The durable queues' deliver handler holds ordered tasks on the FIFO queue.
    let app = Arc::new(match &delivery {
        Delivery::Sqs(queues) => app.with_holder(queues.holder()),
        Delivery::InProcess(_) => app,
    });
    let listener = TcpListener::bind(addr).await.map_err(|source| StartError::Listen { addr, source })?;
    let addr = listener.local_addr().map_err(|source| StartError::Listen { addr, source })?;
    let admin_key = admin_key.unwrap_or_else(generate_admin_key);
    let routes = routes::table();
    let server = Arc::new(Server {
        app: Arc::clone(&app),
        admin_key: admin_key.clone(),
        resources: routes::Resources::of(&routes),
        routes,
        delivery: delivery.clone(),
    });
    let (stop, stopped) = watch::channel(false);
    let task = tokio::spawn(serve(listener, server, stopped));
    prometheus();
    let (drain, draining) = watch::channel(false);
    let workers = spawn_delivery(&app, &delivery, workers, &draining);
    Ok(Running { addr, admin_key, app, delivery, stop, task, workers, drain })
}

/// Waits for SIGINT or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(term) => term,
            Err(_) => {
                let _ = ctrl_c.await;
                return;
            }
        };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
}
