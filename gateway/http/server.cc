#include "gateway/http/server.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <exception>
#include <future>
#include <mutex>
#include <optional>
#include <thread>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "boost/asio/bind_executor.hpp"
#include "boost/asio/dispatch.hpp"
#include "boost/asio/executor_work_guard.hpp"
#include "boost/asio/io_context.hpp"
#include "boost/asio/ip/tcp.hpp"
#include "boost/asio/post.hpp"
#include "boost/asio/steady_timer.hpp"
#include "boost/asio/strand.hpp"
#include "boost/asio/write.hpp"
#include "boost/beast/core.hpp"
#include "boost/beast/http.hpp"
#include "common/log/log.h"
#include "common/status/error.h"
#include "gateway/transcode/errors.h"

namespace loyalty::gateway {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = boost::beast::http;
using tcp = net::ip::tcp;

namespace {

// After an error answer that closes the connection, the client may still be sending (a body we
// refused). Closing at once would make the kernel reset the connection and the client might
// never read our answer, so unread input is drained for a short while first, as nginx's
// lingering close does.
constexpr auto kLingerTime = std::chrono::seconds(1);
constexpr size_t kLingerBytesMax = 256 * 1024;
// Retry delay after accept fails (e.g. out of file descriptors), instead of spinning.
constexpr auto kAcceptRetryDelay = std::chrono::milliseconds(100);
constexpr int kThreadsMax = 256;

std::chrono::steady_clock::duration ToChrono(absl::Duration duration) {
  return absl::ToChronoNanoseconds(duration);
}

std::string ToStd(beast::string_view text) { return std::string(text.data(), text.size()); }

bool HasNoBody(int status) { return status < 200 || status == 204 || status == 304; }

// Writes `response` as HTTP/1.1 into `out` (replacing its contents), as Beast's serializer would
// write a response<string_body> built with set() per header, keep_alive(!close) and
// prepare_payload(): a header given twice keeps its last value, Connection: close when closing,
// and Content-Length, except for the statuses that have no body. Serialising by hand into a
// reused string saves the allocation of every header field and of the message per answer.
void SerializeResponse(const HttpResponse& response, bool close, std::string& out) {
  out.clear();
  const beast::string_view reason =
      http::obsolete_reason(http::int_to_status(static_cast<unsigned>(response.status)));
  absl::StrAppend(&out, "HTTP/1.1 ", response.status, " ",
                  absl::string_view(reason.data(), reason.size()), "\r\n");
  const HttpHeaders& headers = response.headers;
  for (size_t i = 0; i < headers.size(); ++i) {
    const auto& [name, value] = headers[i];
    bool replaced = false;
    for (size_t later = i + 1; later < headers.size() && !replaced; ++later) {
      replaced = absl::EqualsIgnoreCase(headers[later].first, name);
    }
    if (replaced) continue;
    absl::StrAppend(&out, name, ": ", value, "\r\n");
  }
  if (close) out.append("Connection: close\r\n");
  const bool body = !HasNoBody(response.status);
  if (body) absl::StrAppend(&out, "Content-Length: ", response.body.size(), "\r\n");
  out.append("\r\n");
  if (body) out.append(response.body);
}

}  // namespace

class Session;

struct HttpServer::State {
  explicit State(const HttpServerOptions& options, HttpServerHooks hooks)
      : options(options), hooks(std::move(hooks)), ioc(options.threads) {}

  const HttpServerOptions options;
  const HttpServerHooks hooks;
  Handler handler;

  std::atomic<int> connections{0};
  std::atomic<int> in_flight{0};
  std::atomic<bool> draining{false};

  absl::Mutex sessions_mu;
  absl::flat_hash_set<Session*> sessions ABSL_GUARDED_BY(sessions_mu);

  std::vector<std::thread> threads;
  std::once_flag shutdown_once;
  bool started = false;

  // Declared last, so it is destroyed first: handlers still queued in it own sessions, whose
  // destructors use the members above.
  net::io_context ioc;
  std::optional<tcp::acceptor> acceptor;
  std::optional<net::executor_work_guard<net::io_context::executor_type>> work;

  void ConnectionsChanged(int delta) {
    const int now = connections.fetch_add(delta) + delta;
    if (hooks.on_connections_changed) hooks.on_connections_changed(now);
  }
};

// One connection. Every member is touched only on the connection's strand.
class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(tcp::socket socket, HttpServer::State& state)
      : state_(state), stream_(std::move(socket)) {
    beast::error_code ignored;
    stream_.socket().set_option(tcp::no_delay(true), ignored);
    const tcp::endpoint peer = stream_.socket().remote_endpoint(ignored);
    if (!ignored) peer_ = absl::StrCat(peer.address().to_string(ignored), ":", peer.port());
    absl::MutexLock lock(&state_.sessions_mu);
    state_.sessions.insert(this);
  }

  ~Session() {
    if (counted_in_flight_) state_.in_flight.fetch_sub(1);
    {
      absl::MutexLock lock(&state_.sessions_mu);
      state_.sessions.erase(this);
    }
    state_.ConnectionsChanged(-1);
  }

  void Start() {
    net::dispatch(stream_.get_executor(),
                  beast::bind_front_handler(&Session::ReadHeader, shared_from_this()));
  }

  // Called on shutdown: a connection waiting for its next request is closed now; one with a
  // request in flight closes after answering (draining turns keep-alive off).
  // A reference, unless the session is already in its destructor (waiting for the registry
  // lock the caller holds).
  std::shared_ptr<Session> Alive() { return weak_from_this().lock(); }

  void CloseIfIdle() {
    net::post(stream_.get_executor(), [self = shared_from_this()] {
      if (self->waiting_for_request_) {
        beast::error_code ignored;
        self->stream_.socket().shutdown(tcp::socket::shutdown_both, ignored);
        self->stream_.socket().close(ignored);
      }
    });
  }

 private:
  void ReadHeader() {
    if (state_.draining.load()) return Close();
    parser_.emplace();
    parser_->header_limit(static_cast<uint32_t>(state_.options.header_bytes_max));
    parser_->body_limit(state_.options.body_bytes_max);
    waiting_for_request_ = true;
    stream_.expires_after(ToChrono(state_.options.idle_timeout));
    http::async_read_header(stream_, buffer_, *parser_,
                            beast::bind_front_handler(&Session::OnHeader, shared_from_this()));
  }

  void OnHeader(beast::error_code ec, size_t /*bytes*/) {
    waiting_for_request_ = false;
    if (ec) return OnReadError(ec);
    const auto& header = parser_->get();
    if (beast::iequals(header[http::field::expect], "100-continue")) {
      // curl and others wait (up to a second) for this before sending a body.
      auto interim = std::make_shared<http::response<http::empty_body>>(http::status::continue_,
                                                                        header.version());
      stream_.expires_after(ToChrono(state_.options.request_timeout));
      http::async_write(stream_, *interim,
                        [self = shared_from_this(), interim](beast::error_code write_ec, size_t) {
                          if (write_ec) return self->Close();
                          self->ReadBody();
                        });
      return;
    }
    ReadBody();
  }

  void ReadBody() {
    stream_.expires_after(ToChrono(state_.options.request_timeout));
    http::async_read(stream_, buffer_, *parser_,
                     beast::bind_front_handler(&Session::OnBody, shared_from_this()));
  }

  void OnReadError(beast::error_code ec) {
    // A client that goes away or idles out between requests is normal life, not an error.
    if (ec == http::error::end_of_stream || ec == beast::error::timeout ||
        ec == net::error::operation_aborted || ec == net::error::connection_reset ||
        ec == net::error::eof || ec == net::error::bad_descriptor) {
      return Close();
    }
    if (ec == http::error::body_limit) {
      return WriteError(
          413, ErrorWithReason(
                   absl::StatusCode::kInvalidArgument, kReasonBodyTooLarge,
                   absl::StrCat("the body exceeds ", state_.options.body_bytes_max, " bytes")));
    }
    if (ec == http::error::header_limit) {
      return WriteError(431,
                        ErrorWithReason(absl::StatusCode::kInvalidArgument, kReasonHeadersTooLarge,
                                        absl::StrCat("request line and headers exceed ",
                                                     state_.options.header_bytes_max, " bytes")));
    }
    if (ec.category() == http::make_error_code(http::error::bad_method).category()) {
      return WriteError(400,
                        ErrorWithReason(absl::StatusCode::kInvalidArgument, kReasonMalformedRequest,
                                        absl::StrCat("malformed HTTP request: ", ec.message())));
    }
    Close();
  }

  void OnBody(beast::error_code ec, size_t /*bytes*/) {
    if (ec) return OnReadError(ec);
    http::request<http::string_body> message = parser_->release();
    parser_.reset();
    keep_alive_ = message.keep_alive();

    if (state_.in_flight.fetch_add(1) >= state_.options.max_in_flight) {
      state_.in_flight.fetch_sub(1);
      HttpResponse overloaded = state_.hooks.error_response(
          503, ErrorWithReason(absl::StatusCode::kUnavailable, kReasonOverloaded,
                               "too many requests in flight; retry shortly"));
      overloaded.headers.emplace_back("retry-after", "1");
      return Write(std::move(overloaded));
    }
    counted_in_flight_ = true;

    HttpRequest request;
    request.method = ToStd(message.method_string());
    request.target = ToStd(message.target());
    request.headers.reserve(16);
    for (const auto& field : message) {
      std::string name = ToStd(field.name_string());
      for (char& c : name) c = absl::ascii_tolower(static_cast<unsigned char>(c));
      request.headers.emplace_back(std::move(name), ToStd(field.value()));
    }
    request.body = std::move(message.body());
    request.peer = peer_;
    // The responder may run on any thread (a gRPC completion); the write happens on our strand.
    Responder respond = [self = shared_from_this()](HttpResponse response) {
      net::post(self->stream_.get_executor(), [self, response = std::move(response)]() mutable {
        self->Write(std::move(response));
      });
    };
    state_.handler(std::move(request), std::move(respond));
  }

  void WriteError(int status, const absl::Status& error) {
    HttpResponse response = state_.hooks.error_response(status, error);
    response.close = true;
    lingering_ = true;
    Write(std::move(response));
  }

  void Write(HttpResponse response) {
    if (counted_in_flight_) {
      counted_in_flight_ = false;
      state_.in_flight.fetch_sub(1);
    }
    const bool close = response.close || !keep_alive_ || state_.draining.load();
    SerializeResponse(response, close, output_);
    stream_.expires_after(ToChrono(state_.options.request_timeout));
    net::async_write(stream_, net::buffer(output_),
                     [self = shared_from_this(), close](beast::error_code ec, size_t) {
                       if (ec || close) return self->Close();
                       self->ReadHeader();
                     });
  }

  void Close() {
    beast::error_code ignored;
    if (!lingering_) {
      stream_.socket().shutdown(tcp::socket::shutdown_both, ignored);
      stream_.socket().close(ignored);
      return;
    }
    lingering_ = false;
    stream_.socket().shutdown(tcp::socket::shutdown_send, ignored);
    stream_.expires_after(kLingerTime);
    Drain();
  }

  // Reads and discards what the client still sends until it closes, kLingerBytesMax arrived, or
  // kLingerTime passed (the stream's timeout closes the socket).
  void Drain() {
    stream_.async_read_some(net::buffer(linger_buffer_),
                            [self = shared_from_this()](beast::error_code ec, size_t bytes) {
                              self->lingered_bytes_ += bytes;
                              if (ec || self->lingered_bytes_ >= kLingerBytesMax) {
                                beast::error_code ignored;
                                self->stream_.socket().close(ignored);
                                return;
                              }
                              self->Drain();
                            });
  }

  HttpServer::State& state_;
  beast::tcp_stream stream_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  std::string peer_;
  // The answer being written; kept between requests so that its capacity is reused.
  std::string output_;
  bool keep_alive_ = true;
  bool waiting_for_request_ = false;
  bool counted_in_flight_ = false;
  bool lingering_ = false;
  size_t lingered_bytes_ = 0;
  std::array<char, 4096> linger_buffer_{};
};

namespace {

void Accept(HttpServer::State& state) {
  state.acceptor->async_accept(
      net::make_strand(state.ioc), [&state](beast::error_code ec, tcp::socket socket) {
        if (ec == net::error::operation_aborted || !state.acceptor->is_open()) return;
        if (ec) {
          log::Warning("accept failed", {{"error", ec.message()}});
          auto timer = std::make_shared<net::steady_timer>(state.acceptor->get_executor(),
                                                           kAcceptRetryDelay);
          timer->async_wait([&state, timer](beast::error_code) {
            if (state.acceptor->is_open()) Accept(state);
          });
          return;
        }
        if (state.draining.load() || state.connections.load() >= state.options.max_connections) {
          if (state.hooks.on_connection_rejected) state.hooks.on_connection_rejected();
          beast::error_code ignored;
          socket.close(ignored);
        } else {
          state.ConnectionsChanged(+1);
          std::make_shared<Session>(std::move(socket), state)->Start();
        }
        Accept(state);
      });
}

void RunWorker(net::io_context& ioc) {
  while (true) {
    try {
      ioc.run();
      return;
    } catch (const std::exception& e) {
      log::Error("HTTP worker caught an exception", {{"error", e.what()}});
    } catch (...) {
      log::Error("HTTP worker caught an unknown exception");
    }
  }
}

}  // namespace

absl::StatusOr<std::unique_ptr<HttpServer>> HttpServer::Create(const HttpServerOptions& options,
                                                               HttpServerHooks hooks) {
  if (options.port < 0 || options.port > 65535) {
    return absl::InvalidArgumentError(absl::StrCat("port out of range: ", options.port));
  }
  if (options.threads < 1 || options.threads > kThreadsMax) {
    return absl::InvalidArgumentError(absl::StrCat("threads out of range: ", options.threads));
  }
  if (options.max_connections < 1 || options.max_in_flight < 1 || options.body_bytes_max == 0 ||
      options.header_bytes_max == 0) {
    return absl::InvalidArgumentError("limits must be positive");
  }
  if (!hooks.error_response) return absl::InvalidArgumentError("error_response hook is required");
  beast::error_code ec;
  const net::ip::address address = net::ip::make_address(options.listen_address, ec);
  if (ec) {
    return absl::InvalidArgumentError(
        absl::StrCat("listen address is not an IP address: ", options.listen_address));
  }
  auto state = std::make_shared<State>(options, std::move(hooks));
  state->acceptor.emplace(net::make_strand(state->ioc));
  const tcp::endpoint endpoint(address, static_cast<unsigned short>(options.port));
  tcp::acceptor& acceptor = *state->acceptor;
  if (acceptor.open(endpoint.protocol(), ec); !ec) {
    acceptor.set_option(net::socket_base::reuse_address(true), ec);
  }
  if (!ec) acceptor.bind(endpoint, ec);
  if (!ec) acceptor.listen(net::socket_base::max_listen_connections, ec);
  if (ec) {
    return absl::UnavailableError(absl::StrCat("cannot listen on ", options.listen_address, ":",
                                               options.port, ": ", ec.message()));
  }
  return std::unique_ptr<HttpServer>(new HttpServer(std::move(state)));
}

HttpServer::~HttpServer() { Shutdown(absl::ZeroDuration()); }

int HttpServer::port() const {
  beast::error_code ec;
  return state_->acceptor->local_endpoint(ec).port();
}

Executor HttpServer::executor() {
  // A raw pointer: the executor is only used while the server (and so the io_context) lives.
  State* state = state_.get();
  return [state](std::function<void()> work) { net::post(state->ioc, std::move(work)); };
}

int HttpServer::open_connections() const { return state_->connections.load(); }
int HttpServer::in_flight() const { return state_->in_flight.load(); }

void HttpServer::Start(Handler handler) {
  State& state = *state_;
  state.handler = std::move(handler);
  state.started = true;
  state.work.emplace(state.ioc.get_executor());
  net::post(state.acceptor->get_executor(), [&state] { Accept(state); });
  for (int i = 0; i < state.options.threads; ++i) {
    state.threads.emplace_back([&state] { RunWorker(state.ioc); });
  }
}

void HttpServer::Shutdown(absl::Duration grace) {
  State& state = *state_;
  std::call_once(state.shutdown_once, [&state, grace] {
    state.draining.store(true);
    if (state.started) {
      // The acceptor belongs to its strand; close it there and wait until that happened.
      std::promise<void> closed;
      net::post(state.acceptor->get_executor(), [&state, &closed] {
        beast::error_code ignored;
        state.acceptor->close(ignored);
        closed.set_value();
      });
      closed.get_future().wait();
      // Take references under the lock but use them outside it: dropping the last reference
      // runs ~Session, which takes the same lock.
      std::vector<std::shared_ptr<Session>> sessions;
      {
        absl::MutexLock lock(&state.sessions_mu);
        for (Session* session : state.sessions) {
          if (std::shared_ptr<Session> alive = session->Alive()) sessions.push_back(alive);
        }
      }
      for (const std::shared_ptr<Session>& session : sessions) session->CloseIfIdle();
      sessions.clear();
      const absl::Time deadline = absl::Now() + grace;
      while (state.in_flight.load() > 0 && absl::Now() < deadline) {
        absl::SleepFor(absl::Milliseconds(10));
      }
    }
    state.work.reset();
    state.ioc.stop();
    for (std::thread& thread : state.threads) thread.join();
    state.threads.clear();
  });
}

}  // namespace loyalty::gateway
