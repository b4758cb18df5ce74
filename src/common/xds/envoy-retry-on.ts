/**
 * The names of Envoy's retry conditions (`RetryPolicy.retry_on`, the x-envoy-retry-on and
 * x-envoy-retry-grpc-on values), shared by the Istio validation that checks a VirtualService's
 * `retryOn` (istioctl accepts exactly these, plus HTTP status codes) and by the waypoint that
 * decodes and applies them. Pure data.
 */
export const RETRY_ON = [
  "5xx",
  "gateway-error",
  "reset",
  "reset-before-request",
  "connect-failure",
  "retriable-4xx",
  "refused-stream",
  "retriable-status-codes",
  "retriable-headers",
  "envoy-ratelimited",
  "http3-post-connect-failure",
  "cancelled",
  "deadline-exceeded",
  "internal",
  "resource-exhausted",
  "unavailable",
] as const;

export type RetryOn = (typeof RETRY_ON)[number];
