#pragma once

// The gateway's HTTP/1.1 server on Boost.Beast: a fixed pool of threads running one io_context,
// a strand per connection, keep-alive, and a limit on everything a client can make it hold:
//
//   - connections: beyond max_connections a new connection is closed at accept;
//   - requests being handled: beyond max_in_flight a request gets 503 OVERLOADED at once;
//   - request line plus headers: header_bytes_max, else 431 and close;
//   - body: body_bytes_max, else 413 and close (judged from Content-Length before the body is
//     read when there is one, so a large upload is refused without being received);
//   - time: a connection must deliver a request's headers within idle_timeout of the previous
//     answer (or of connecting), and its body, and later take our answer, within
//     request_timeout; otherwise it is closed.
//
// The server knows nothing of routes: it hands each request to the Handler with a Responder,
// which may be called from any thread (it hops onto the connection's strand). Boost throws only
// from calls that have error_code overloads, which this file uses everywhere; the worker threads
// still catch and log anything that escapes, so one bad request cannot end the process.

#include <cstddef>
#include <functional>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "gateway/http/message.h"

namespace loyalty::gateway {

struct HttpServerOptions {
  // Address to bind; IPv6 given bare ("::").
  std::string listen_address = "0.0.0.0";
  // 0 picks a free port (tests); port() tells which.
  int port = 0;
  int threads = 4;
  int max_connections = 1024;
  int max_in_flight = 512;
  absl::Duration idle_timeout = absl::Seconds(30);
  absl::Duration request_timeout = absl::Seconds(10);
  size_t body_bytes_max = 64 * 1024;
  size_t header_bytes_max = 16 * 1024;
};

struct HttpServerHooks {
  // The response for an error the server answers itself (400 malformed request, 413, 431, 503
  // overloaded), so that every error body has the gateway's shape. Required.
  std::function<HttpResponse(int http_status, const absl::Status& status)> error_response;
  // Optional observers, e.g. for metrics.
  std::function<void(int open_connections)> on_connections_changed;
  std::function<void()> on_connection_rejected;
};

class HttpServer {
 public:
  using Handler = std::function<void(HttpRequest request, Responder respond)>;

  // Binds the listener (nothing is accepted until Start). INVALID_ARGUMENT for options out of
  // range or an address that does not parse; UNAVAILABLE when the port cannot be bound.
  static absl::StatusOr<std::unique_ptr<HttpServer>> Create(const HttpServerOptions& options,
                                                            HttpServerHooks hooks);

  // Shuts down with no grace if still running.
  ~HttpServer();

  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // The bound port.
  int port() const;

  // Runs work on the worker threads; valid for the server's lifetime. After Shutdown the work is
  // dropped unrun.
  Executor executor();

  // Starts the worker threads and accepting. `handler` must outlive the server's Shutdown. Call
  // once.
  void Start(Handler handler);

  // Stops accepting, closes connections waiting for a request, lets requests in flight finish
  // (answers then carry Connection: close) for up to `grace`, then stops the threads; connections
  // still open are dropped. Idempotent; returns once the threads have stopped.
  void Shutdown(absl::Duration grace);

  int open_connections() const;
  int in_flight() const;

  struct State;

 private:
  explicit HttpServer(std::shared_ptr<State> state) : state_(std::move(state)) {}
  std::shared_ptr<State> state_;
};

}  // namespace loyalty::gateway
