#include "gateway/gateway.h"

#include <cmath>
#include <optional>
#include <string>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "common/log/log.h"
#include "common/log/trace.h"
#include "common/status/error.h"
#include "common/status/macros.h"
#include "common/validation/ids.h"
#include "gateway/strings.h"
#include "gateway/transcode/errors.h"
#include "gateway/transcode/json_print.h"
#include "gateway/transcode/request_builder.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/message.h"
#include "google/rpc/error_details.pb.h"

namespace loyalty::gateway {

using google::protobuf::FieldDescriptor;
using google::protobuf::Message;

// Everything about one request on its way through the pipeline. Shared between the HTTP worker
// and the upstream completion; never touched by two threads at once.
struct Gateway::Exchange {
  HttpRequest request;
  Responder respond;
  log::TraceContext trace;
  std::string tracestate;
  absl::Time start;
  std::string route_label{kUnmatchedRoute};
  std::string method_label;
  const Route* route = nullptr;
  std::optional<Principal> principal;
  // Added to the answer, e.g. a generated Idempotency-Key.
  HttpHeaders extra_headers;
  // For the access log: the ErrorInfo reason of an error answer.
  std::string error_reason;
};

namespace {

// Trace headers longer than this are ignored rather than parsed, forwarded and logged
// (common/server/request_context.h allows the same).
constexpr size_t kTraceHeaderBytesMax = 512;
constexpr char kHealthz[] = "/healthz";
constexpr char kReadyz[] = "/readyz";
constexpr char kOpenApi[] = "/openapi.json";
constexpr char kWalletTemplate[] = "/v1/programs/{program}/members/{member}/wallet";

// Methods get their own metric label; anything else a client sends counts as OTHER, so a client
// cannot grow the label set.
std::string MethodLabel(std::string_view method) {
  for (const char* known : {"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"}) {
    if (method == known) return known;
  }
  return "OTHER";
}

// application/json, with optional parameters, of which only charset=utf-8 is meaningful (RFC 8259
// makes JSON UTF-8; any other charset would be a lie the parser cannot honour).
bool IsJsonContentType(std::string_view value) {
  const size_t semicolon = value.find(';');
  const absl::string_view media = absl::StripAsciiWhitespace(
      absl::string_view(value.data(), std::min(semicolon, value.size())));
  if (!absl::EqualsIgnoreCase(media, "application/json")) return false;
  if (semicolon == std::string_view::npos) return true;
  for (absl::string_view parameter : absl::StrSplit(
           absl::string_view(value.data() + semicolon + 1, value.size() - semicolon - 1), ';')) {
    parameter = absl::StripAsciiWhitespace(parameter);
    if (parameter.empty()) continue;
    const size_t equals = parameter.find('=');
    if (equals == absl::string_view::npos) return false;
    const absl::string_view name = absl::StripAsciiWhitespace(parameter.substr(0, equals));
    absl::string_view charset = absl::StripAsciiWhitespace(parameter.substr(equals + 1));
    charset = absl::StripPrefix(absl::StripSuffix(charset, "\""), "\"");
    if (absl::EqualsIgnoreCase(name, "charset") && !absl::EqualsIgnoreCase(charset, "utf-8")) {
      return false;
    }
  }
  return true;
}

// The value of top-level string field `name` of `message`, "" when it has none.
std::string StringField(const Message& message, const char* name) {
  const FieldDescriptor* field = message.GetDescriptor()->FindFieldByName(name);
  if (field == nullptr || field->is_repeated() ||
      field->cpp_type() != FieldDescriptor::CPPTYPE_STRING) {
    return "";
  }
  return message.GetReflection()->GetString(message, field);
}

// Whether the path variables `program` and `member`, where the route has them, are the member
// principal's own. The full check on the built request (OwnsResource) follows later; this one
// runs before anything else so that another member's routes all answer alike.
bool PathNamesOwnResources(const Principal& principal, const RouteMatch& match) {
  const auto& variables = match.route->path.variables();
  for (size_t i = 0; i < variables.size() && i < match.values.size(); ++i) {
    if (variables[i].field_path == "program" && match.values[i] != principal.program) return false;
    if (variables[i].field_path == "member" && match.values[i] != principal.member) return false;
  }
  return true;
}

HttpResponse JsonResponse(int status, std::string body) {
  HttpResponse response;
  response.status = status;
  response.body = std::move(body);
  return response;
}

std::string ReasonOf(const absl::Status& status) { return ErrorReason(status).value_or(""); }

}  // namespace

absl::StatusOr<Router> BuildRouter(const std::vector<LinkedService>& services) {
  Router router;
  for (const LinkedService& service : services) {
    if (absl::Status status = router.AddService(*service.descriptor, service.upstream);
        !status.ok()) {
      return status;
    }
  }
  absl::StatusOr<PathTemplate> wallet = PathTemplate::Parse(kWalletTemplate);
  if (!wallet.ok()) return wallet.status();
  Route route;
  route.kind = RouteKind::kWallet;
  route.http_method = "GET";
  route.path = *std::move(wallet);
  route.label = absl::StrCat("GET ", kWalletTemplate);
  route.rpc_name = std::string(kWalletRpcName);
  if (absl::Status status = router.AddRoute(std::move(route)); !status.ok()) return status;
  return router;
}

Gateway::Gateway(GatewayOptions options, Router router, Upstreams& upstreams,
                 std::vector<std::unique_ptr<WalletPart>> wallet_parts, const Clock& clock,
                 Executor executor, GatewayMetrics* metrics, RandomSource random)
    : options_(std::move(options)),
      router_(std::move(router)),
      upstreams_(upstreams),
      wallet_parts_(std::move(wallet_parts)),
      clock_(clock),
      executor_(std::move(executor)),
      metrics_(metrics),
      random_(std::move(random)),
      api_key_limiter_(options_.api_key_rate, clock),
      member_limiter_(options_.member_rate, clock) {}

Gateway::~Gateway() = default;

void Gateway::Handle(HttpRequest request, Responder respond) {
  auto exchange = std::make_shared<Exchange>();
  exchange->request = std::move(request);
  exchange->respond = std::move(respond);
  exchange->start = absl::Now();
  exchange->method_label = MethodLabel(exchange->request.method);

  // A well-formed traceparent continues the caller's trace; anything else starts a new one.
  std::optional<log::TraceContext> parent;
  if (exchange->request.HeaderCount("traceparent") == 1) {
    const std::string_view header = *exchange->request.Header("traceparent");
    if (header.size() <= kTraceHeaderBytesMax) parent = log::ParseTraceParent(header);
  }
  exchange->trace = parent.has_value() ? log::ChildOf(*parent) : log::NewTraceContext();
  if (parent.has_value() && exchange->request.HeaderCount("tracestate") == 1) {
    const std::string_view state = *exchange->request.Header("tracestate");
    if (state.size() <= kTraceHeaderBytesMax) exchange->tracestate = std::string(state);
  }
  log::ScopedTraceContext scope(exchange->trace);
  Dispatch(exchange);
}

void Gateway::Dispatch(const std::shared_ptr<Exchange>& exchange) {
  const std::string& target = exchange->request.target;
  const size_t question = target.find('?');
  const std::string_view path = std::string_view(target).substr(0, question);
  const std::string_view query = question == std::string::npos
                                     ? std::string_view()
                                     : std::string_view(target).substr(question + 1);
  const std::string& method = exchange->request.method;

  if (path == kHealthz || path == kReadyz || path == kOpenApi) {
    exchange->route_label = absl::StrCat("GET ", Absl(path));
    if (method != "GET") {
      exchange->extra_headers.emplace_back("allow", "GET");
      return Fail(exchange,
                  ErrorWithReason(absl::StatusCode::kUnimplemented, kReasonMethodNotAllowed,
                                  absl::StrCat(Absl(path), " answers GET only")),
                  405);
    }
    if (path == kHealthz) return Finish(exchange, JsonResponse(200, R"({"status":"SERVING"})"));
    if (path == kOpenApi) return Finish(exchange, JsonResponse(200, options_.openapi_json));
    return HandleReady(exchange);
  }

  const Router::Result result = router_.Match(method, path);
  switch (result.outcome) {
    case Router::Outcome::kBadPath:
      return Fail(exchange, ErrorWithReason(absl::StatusCode::kInvalidArgument,
                                            kReasonMalformedRequest, result.error));
    case Router::Outcome::kNotFound:
      return Fail(exchange, ErrorWithReason(absl::StatusCode::kNotFound, kReasonRouteNotFound,
                                            "no route for this path"));
    case Router::Outcome::kMethodNotAllowed:
      exchange->extra_headers.emplace_back("allow", absl::StrJoin(result.allowed_methods, ", "));
      return Fail(exchange,
                  ErrorWithReason(absl::StatusCode::kUnimplemented, kReasonMethodNotAllowed,
                                  absl::StrCat(method, " is not allowed on this path")),
                  405);
    case Router::Outcome::kMatched:
      break;
  }
  exchange->route = result.match.route;
  exchange->route_label = result.match.route->label;
  HandleRoute(exchange, result.match, query);
}

void Gateway::HandleReady(const std::shared_ptr<Exchange>& exchange) {
  if (draining_.load()) {
    return Finish(exchange, JsonResponse(503, R"({"status":"NOT_SERVING","draining":true})"));
  }
  upstreams_.CheckHealth(options_.health_deadline, [this, exchange](HealthReport report) {
    executor_([this, exchange, report = std::move(report)] {
      bool ready = true;
      std::string services;
      for (const std::string& name : options_.ready_services) {
        std::string state = "ABSENT";
        if (const auto it = report.find(name); it != report.end()) state = it->second;
        if (state != "ABSENT" && state != "SERVING") ready = false;
        absl::StrAppend(&services, services.empty() ? "" : ",", log::JsonQuote(name), ":",
                        log::JsonQuote(state));
      }
      Finish(exchange,
             JsonResponse(ready ? 200 : 503,
                          absl::StrCat(R"({"status":")", ready ? "SERVING" : "NOT_SERVING",
                                       R"(","services":{)", services, "}}")));
    });
  });
}

absl::StatusOr<Principal> Gateway::Authenticate(Exchange& exchange) {
  const HttpRequest& request = exchange.request;
  const size_t keys = request.HeaderCount("x-api-key");
  const size_t authorizations = request.HeaderCount("authorization");
  auto unauthenticated = [&](std::string_view message, bool bad_token) {
    exchange.extra_headers.emplace_back(
        "www-authenticate", bad_token ? R"(Bearer realm="loyalty", error="invalid_token")"
                                      : R"(Bearer realm="loyalty")");
    return ErrorWithReason(absl::StatusCode::kUnauthenticated, kReasonUnauthenticated, message);
  };
  if (keys + authorizations == 0) {
    return unauthenticated("credentials required: an x-api-key header or a bearer token", false);
  }
  if (keys + authorizations > 1) {
    return unauthenticated("send exactly one credential: one x-api-key or one Authorization",
                           false);
  }
  if (keys == 1) {
    std::optional<Principal> principal = options_.api_keys.Find(*request.Header("x-api-key"));
    if (!principal.has_value()) return unauthenticated("invalid API key", false);
    return *std::move(principal);
  }
  const std::string_view authorization = *request.Header("authorization");
  constexpr absl::string_view kBearer = "bearer ";
  if (authorization.size() <= kBearer.size() ||
      !absl::EqualsIgnoreCase(absl::string_view(authorization.data(), kBearer.size()), kBearer)) {
    return unauthenticated("Authorization must be a Bearer token", false);
  }
  const absl::string_view token = absl::StripLeadingAsciiWhitespace(absl::string_view(
      authorization.data() + kBearer.size(), authorization.size() - kBearer.size()));
  if (options_.jwt == nullptr || !options_.jwt->has_keys()) {
    return unauthenticated("member tokens are not accepted here", true);
  }
  absl::StatusOr<MemberToken> verified =
      options_.jwt->Verify(std::string_view(token.data(), token.size()), clock_.Now());
  if (!verified.ok()) {
    // Which check failed helps an operator; the caller only learns whether to refresh.
    const std::string reason = ReasonOf(verified.status());
    log::Info("member token refused", {{"reason", reason}});
    return unauthenticated(reason == kReasonTokenExpired ? "token expired" : "invalid token", true);
  }
  Principal principal;
  principal.kind = Principal::Kind::kMember;
  principal.program = std::move(verified->program);
  principal.member = std::move(verified->member);
  return principal;
}

bool Gateway::RateLimited(const std::shared_ptr<Exchange>& exchange, const Principal& principal) {
  const bool member = principal.kind == Principal::Kind::kMember;
  RateLimiter& limiter = member ? member_limiter_ : api_key_limiter_;
  const RateLimiter::Decision decision =
      limiter.Take(member ? absl::StrCat("m:", principal.program, "/", principal.member)
                          : absl::StrCat("k:", principal.key_id));
  if (decision.allowed) return false;
  const int64_t seconds = std::max<int64_t>(
      1, static_cast<int64_t>(std::ceil(absl::ToDoubleSeconds(decision.retry_after))));
  exchange->extra_headers.emplace_back("retry-after", absl::StrCat(seconds));
  if (metrics_ != nullptr) metrics_->RecordRateLimited(member ? "member" : "api_key");
  Fail(exchange, ErrorWithReason(absl::StatusCode::kResourceExhausted, kReasonRateLimited,
                                 absl::StrCat("rate limit reached; retry in ", seconds, " s"),
                                 {{"retry_after_seconds", absl::StrCat(seconds)}}));
  return true;
}

void Gateway::HandleRoute(const std::shared_ptr<Exchange>& exchange, const RouteMatch& match,
                          std::string_view query) {
  const Route& route = *match.route;
  absl::StatusOr<Principal> principal = Authenticate(*exchange);
  if (!principal.ok()) return Fail(exchange, principal.status());
  exchange->principal = *principal;

  const RoutePolicy& policy = PolicyFor(route.rpc_name);
  if (principal->kind == Principal::Kind::kMember && !PathNamesOwnResources(*principal, match)) {
    // Another member's (or program's) resource is not found, whatever the route: a member tells
    // neither which routes exist for others nor whether the other member does.
    return Fail(exchange, ErrorWithReason(absl::StatusCode::kNotFound, kReasonResourceNotFound,
                                          "resource not found"));
  }
  if (!MayCall(*principal, policy)) {
    return Fail(exchange,
                ErrorWithReason(absl::StatusCode::kPermissionDenied, kReasonPermissionDenied,
                                absl::StrCat("this credential may not call ", route.label)));
  }
  if (RateLimited(exchange, *principal)) return;

  const std::string& body = exchange->request.body;
  if (!body.empty()) {
    const std::optional<std::string_view> content_type = exchange->request.Header("content-type");
    if (!content_type.has_value() || !IsJsonContentType(*content_type)) {
      return Fail(exchange,
                  ErrorWithReason(absl::StatusCode::kInvalidArgument, kReasonUnsupportedMediaType,
                                  "a request body must be application/json (UTF-8)"),
                  415);
    }
  }

  if (route.kind == RouteKind::kWallet) return HandleWallet(exchange, match, policy);

  if (!upstreams_.Has(route.upstream)) {
    return Fail(exchange,
                ErrorWithReason(absl::StatusCode::kUnavailable, kReasonUpstreamNotConfigured,
                                absl::StrCat("the ", route.upstream, " service is not deployed"),
                                {{"service", route.upstream}}));
  }
  google::protobuf::MessageFactory* factory = google::protobuf::MessageFactory::generated_factory();
  std::shared_ptr<Message> request(factory->GetPrototype(route.method->input_type())->New());
  if (absl::Status status = BuildRequest(match, query, body, *request); !status.ok()) {
    return Fail(exchange, status);
  }
  if (!OwnsResource(*principal, policy, StringField(*request, "program"),
                    StringField(*request, "member"))) {
    // The same answer whether the other member exists or not, and no upstream call: a member
    // learns nothing about anyone else's resources.
    return Fail(exchange, ErrorWithReason(absl::StatusCode::kNotFound, kReasonResourceNotFound,
                                          "resource not found"));
  }
  if (absl::Status status = ApplyIdempotencyKey(*exchange, route, policy, *request); !status.ok()) {
    return Fail(exchange, status);
  }
  std::shared_ptr<Message> response(factory->GetPrototype(route.method->output_type())->New());
  // The answer is printed and handed to the connection on the gRPC thread that completed the
  // call: a hop through the executor first cost a thread wake-up per request, and printing takes
  // microseconds (json_print.h) without waiting on anything.
  upstreams_.Call(route.upstream, route.grpc_path, request, response, CallOptions(*exchange),
                  [this, exchange, response](grpc::Status status) {
                    log::ScopedTraceContext scope(exchange->trace);
                    OnRpcDone(exchange, response, status);
                  });
}

UpstreamCallOptions Gateway::CallOptions(const Exchange& exchange) const {
  UpstreamCallOptions options;
  options.deadline = options_.upstream_deadline;
  options.traceparent = log::FormatTraceParent(exchange.trace);
  options.tracestate = exchange.tracestate;
  return options;
}

absl::Status Gateway::ApplyIdempotencyKey(Exchange& exchange, const Route& route,
                                          const RoutePolicy& policy, Message& request) {
  if (route.http_method == "GET") return absl::OkStatus();
  const FieldDescriptor* field = request.GetDescriptor()->FindFieldByName("request_id");
  if (field == nullptr || field->is_repeated() ||
      field->cpp_type() != FieldDescriptor::CPPTYPE_STRING) {
    return absl::OkStatus();
  }
  const google::protobuf::Reflection& reflection = *request.GetReflection();
  const std::string from_body = reflection.GetString(request, field);
  const size_t headers = exchange.request.HeaderCount("idempotency-key");
  if (headers > 1) {
    return InvalidField("Idempotency-Key", kReasonInvalidFieldValue, "given more than once");
  }
  if (headers == 1) {
    const std::string key(*exchange.request.Header("idempotency-key"));
    LOYALTY_RETURN_IF_ERROR(ValidateRequestId(key, "Idempotency-Key"));
    if (!from_body.empty() && from_body != key) {
      return InvalidField("request_id", kReasonInvalidFieldValue,
                          "differs from the Idempotency-Key header; send one or the same");
    }
    reflection.SetString(&request, field, key);
    return absl::OkStatus();
  }
  if (!from_body.empty()) return absl::OkStatus();
  if (policy.idempotency == IdempotencyKeyPolicy::kGenerated) {
    const std::string key = absl::StrFormat("gw-%016x%016x", random_(), random_());
    reflection.SetString(&request, field, key);
    exchange.extra_headers.emplace_back("idempotency-key", key);
    return absl::OkStatus();
  }
  return ErrorWithReason(absl::StatusCode::kInvalidArgument, kReasonIdempotencyKeyRequired,
                         absl::StrCat(route.label,
                                      " needs an Idempotency-Key header, so that a retry cannot "
                                      "apply it twice"));
}

void Gateway::OnRpcDone(const std::shared_ptr<Exchange>& exchange,
                        const std::shared_ptr<Message>& response, const grpc::Status& status) {
  if (!status.ok()) return FailUpstream(exchange, status, exchange->route->upstream);
  const Message* answer = response.get();
  if (exchange->route->response_field != nullptr) {
    answer = &response->GetReflection()->GetMessage(*response, exchange->route->response_field);
  }
  absl::StatusOr<std::string> json = PrintJson(*answer);
  if (!json.ok()) {
    log::Error("cannot print an answer",
               {{"route", exchange->route_label}, {"error", std::string(json.status().message())}});
    return FailUpstream(exchange, grpc::Status(grpc::StatusCode::INTERNAL, "print failed"),
                        "gateway");
  }
  Finish(exchange, JsonResponse(200, *std::move(json)));
}

void Gateway::HandleWallet(const std::shared_ptr<Exchange>& exchange, const RouteMatch& match,
                           const RoutePolicy& policy) {
  WalletQuery query;
  const auto& variables = match.route->path.variables();
  for (size_t i = 0; i < variables.size() && i < match.values.size(); ++i) {
    if (variables[i].field_path == "program") query.program = match.values[i];
    if (variables[i].field_path == "member") query.member = match.values[i];
  }
  if (!OwnsResource(*exchange->principal, policy, query.program, query.member)) {
    return Fail(exchange, ErrorWithReason(absl::StatusCode::kNotFound, kReasonResourceNotFound,
                                          "resource not found"));
  }
  query.call = CallOptions(*exchange);

  struct Join {
    absl::Mutex mu;
    std::vector<WalletPartResult> results ABSL_GUARDED_BY(mu);
    size_t pending ABSL_GUARDED_BY(mu) = 0;
  };
  auto join = std::make_shared<Join>();
  {
    absl::MutexLock lock(&join->mu);
    join->results.resize(wallet_parts_.size());
    join->pending = wallet_parts_.size();
  }
  auto on_all_done = [this, exchange, join] {
    std::vector<WalletPartResult> results;
    {
      absl::MutexLock lock(&join->mu);
      results = std::move(join->results);
    }
    log::ScopedTraceContext scope(exchange->trace);
    for (const WalletPartResult& result : results) {
      if (!result.status.ok() && !result.absent && metrics_ != nullptr) {
        metrics_->RecordUpstreamError(result.upstream, result.status.error_code());
      }
    }
    WalletAnswer answer = AssembleWallet(results);
    if (!answer.status.ok()) return FailUpstream(exchange, answer.status, answer.upstream);
    Finish(exchange, JsonResponse(200, std::move(answer.json)));
  };
  if (wallet_parts_.empty()) return executor_(on_all_done);
  for (size_t i = 0; i < wallet_parts_.size(); ++i) {
    wallet_parts_[i]->Fetch(query, [this, join, i, on_all_done](WalletPartResult result) {
      bool last = false;
      {
        absl::MutexLock lock(&join->mu);
        join->results[i] = std::move(result);
        last = --join->pending == 0;
      }
      if (last) executor_(on_all_done);
    });
  }
}

void Gateway::Fail(const std::shared_ptr<Exchange>& exchange, const absl::Status& status,
                   int http_status) {
  const ErrorReply reply = GatewayErrorReply(status, http_status);
  exchange->error_reason = ReasonOf(status);
  Finish(exchange, JsonResponse(reply.http_status, reply.body));
}

void Gateway::FailUpstream(const std::shared_ptr<Exchange>& exchange, const grpc::Status& status,
                           std::string_view upstream) {
  const ErrorReply reply = UpstreamErrorReply(status, upstream, exchange->trace.trace_id);
  if (metrics_ != nullptr && exchange->route != nullptr &&
      exchange->route->kind == RouteKind::kRpc) {
    metrics_->RecordUpstreamError(upstream, status.error_code());
  }
  for (const google::protobuf::Any& detail : reply.status.details()) {
    google::rpc::ErrorInfo info;
    if (detail.UnpackTo(&info)) {
      exchange->error_reason = info.reason();
      break;
    }
  }
  // A service shedding load answers many calls a second, all alike ("Server Threadpool
  // Exhausted"): the access log line (reason UPSTREAM_OVERLOADED) and the upstream error metric
  // say it, and a second line per call would double the logging exactly when CPU is short.
  if (reply.http_status >= 500 && exchange->error_reason != kReasonUpstreamOverloaded) {
    // The upstream's own message goes to the log only; services keep personal data out of it.
    log::Warning("upstream call failed", {{"route", exchange->route_label},
                                          {"upstream", upstream},
                                          {"grpc_code", static_cast<int64_t>(status.error_code())},
                                          {"error", status.error_message()}});
  }
  if (reply.retry_after_seconds > 0) {
    exchange->extra_headers.emplace_back("retry-after", absl::StrCat(reply.retry_after_seconds));
  }
  Finish(exchange, JsonResponse(reply.http_status, reply.body));
}

void Gateway::Finish(const std::shared_ptr<Exchange>& exchange, HttpResponse response) {
  response.headers.emplace_back("content-type", "application/json");
  response.headers.emplace_back("traceparent", log::FormatTraceParent(exchange->trace));
  // Member data must not sit in shared caches; error bodies neither.
  response.headers.emplace_back("cache-control", "no-store");
  response.headers.emplace_back("x-content-type-options", "nosniff");
  for (auto& header : exchange->extra_headers) response.headers.push_back(std::move(header));
  exchange->extra_headers.clear();

  const double seconds = absl::ToDoubleSeconds(absl::Now() - exchange->start);
  if (metrics_ != nullptr) {
    metrics_->RecordRequest(exchange->route_label, exchange->method_label, response.status,
                            seconds);
  }
  if (options_.access_log) {
    log::ScopedTraceContext scope(exchange->trace);
    std::string caller = "none";
    if (exchange->principal.has_value()) {
      caller = exchange->principal->kind == Principal::Kind::kMember
                   ? "member"
                   : absl::StrCat(Absl(RoleName(exchange->principal->role)), ":",
                                  exchange->principal->key_id);
    }
    // The route template, never the path or query: those may carry personal data.
    log::Info("http request", {{"method", exchange->method_label},
                               {"route", exchange->route_label},
                               {"status", static_cast<int64_t>(response.status)},
                               {"duration_ms", seconds * 1000.0},
                               {"caller", caller},
                               {"reason", exchange->error_reason},
                               {"peer", exchange->request.peer}});
  }
  Responder respond = std::move(exchange->respond);
  respond(std::move(response));
}

HttpResponse Gateway::ServerErrorResponse(int http_status, const absl::Status& status) {
  const ErrorReply reply = GatewayErrorReply(status, http_status);
  HttpResponse response = JsonResponse(reply.http_status, reply.body);
  response.headers.emplace_back("content-type", "application/json");
  response.headers.emplace_back("cache-control", "no-store");
  if (metrics_ != nullptr) {
    metrics_->RecordRequest(kUnmatchedRoute, "OTHER", reply.http_status, 0);
  }
  if (options_.access_log) {
    log::Info("http request refused",
              {{"status", static_cast<int64_t>(reply.http_status)}, {"reason", ReasonOf(status)}});
  }
  return response;
}

}  // namespace loyalty::gateway
