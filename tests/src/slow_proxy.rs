//! A TCP proxy on loopback that holds back the answers of its first connection: the request reaches
//! the server (and acts), its answer comes too late, and the client's SDK tries again on a new
//! connection, which is passed through at once. That is how a timed-out write that in fact succeeded
//! looks to the one who sent it.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

pub struct SlowOnceProxy {
    pub addr: SocketAddr,
    connections: Arc<AtomicUsize>,
}

impl SlowOnceProxy {
    /// Forwards to `upstream` (`host:port`); the answers on the first connection wait `delay`.
    pub async fn start(upstream: &str, delay: Duration) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind loopback");
        let addr = listener.local_addr().expect("local addr");
        let connections = Arc::new(AtomicUsize::new(0));
        let counter = connections.clone();
        let upstream = upstream.to_owned();
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let first = counter.fetch_add(1, Ordering::SeqCst) == 0;
                let upstream = upstream.clone();
                tokio::spawn(async move {
                    let Ok(server) = TcpStream::connect(&upstream).await else { return };
                    let (mut client_read, mut client_write) = client.into_split();
                    let (mut server_read, mut server_write) = server.into_split();
                    let up = tokio::spawn(async move {
                        let _ = tokio::io::copy(&mut client_read, &mut server_write).await;
                    });
                    let mut buffer = vec![0u8; 16 * 1024];
                    while let Ok(n) = server_read.read(&mut buffer).await {
                        if n == 0 {
                            break;
                        }
                        if first {
                            tokio::time::sleep(delay).await;
                        }
                        if client_write.write_all(&buffer[..n]).await.is_err() {
                            break;
                        }
                    }
                    up.abort();
                });
            }
        });
        Self { addr, connections }
    }

    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// How many connections clients opened (more than one: the SDK retried).
    pub fn connections(&self) -> usize {
        self.connections.load(Ordering::SeqCst)
    }
}
