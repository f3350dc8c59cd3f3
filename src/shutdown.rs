//! One shutdown signal shared by the HTTP server and the background loops (SIGTERM / SIGINT).

use std::sync::Arc;

use tokio::sync::watch;

#[derive(Clone)]
pub struct Shutdown(Arc<watch::Sender<bool>>, watch::Receiver<bool>);

impl Default for Shutdown {
    fn default() -> Self {
        let (tx, rx) = watch::channel(false);
        Shutdown(Arc::new(tx), rx)
    }
}

impl Shutdown {
    pub fn trigger(&self) {
        let _ = self.0.send(true);
    }
    pub fn is_set(&self) -> bool {
        *self.1.borrow()
    }
    pub async fn wait(&self) {
        let mut rx = self.1.clone();
        let _ = rx.wait_for(|v| *v).await;
    }
}

/// Resolves on SIGTERM or Ctrl-C.
pub async fn signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).expect("SIGTERM handler");
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}
