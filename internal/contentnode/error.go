package contentnode

import (
	"context"
	"errors"
	"fmt"
	"net"
	"syscall"
	"time"

	netmonv1 "github.com/audius-netmon/netmon/proto/netmon/v1"
)

// Reason classifies why a content-node call failed.
type Reason int

// The reasons a call can fail; each maps to one netmonv1.Outcome.
const (
	// Timeout: the call's deadline passed (connecting, waiting for headers or reading the body).
	Timeout Reason = iota + 1
	// Refused: nothing listens at the endpoint (ECONNREFUSED).
	Refused
	// Network: any other transport failure: DNS, reset, TLS, a body cut short.
	Network
	// HTTPStatus: the node answered with a non-2xx status.
	HTTPStatus
	// BadResponse: the node answered 2xx with a body that is not a valid answer.
	BadResponse
	// Blocked: the endpoint, an address it resolved to, or a redirect is refused by the Policy;
	// nothing was sent to it.
	Blocked
)

var reasonNames = map[Reason]string{
	Timeout:     "timeout",
	Refused:     "refused",
	Network:     "network",
	HTTPStatus:  "http status",
	BadResponse: "bad response",
	Blocked:     "blocked",
}

func (r Reason) String() string {
	if s, ok := reasonNames[r]; ok {
		return s
	}
	return fmt.Sprintf("reason(%d)", int(r))
}

// Outcome is the FetchResult outcome a work item gets when its last attempt failed for r.
func (r Reason) Outcome() netmonv1.Outcome {
	switch r {
	case Timeout:
		return netmonv1.Outcome_OUTCOME_TIMEOUT
	case Refused:
		return netmonv1.Outcome_OUTCOME_REFUSED
	case Network:
		return netmonv1.Outcome_OUTCOME_NETWORK_ERROR
	case HTTPStatus:
		return netmonv1.Outcome_OUTCOME_HTTP_ERROR
	case BadResponse:
		return netmonv1.Outcome_OUTCOME_BAD_RESPONSE
	case Blocked:
		return netmonv1.Outcome_OUTCOME_SKIPPED_NO_ENDPOINT
	}
	return netmonv1.Outcome_OUTCOME_UNSPECIFIED
}

// Error is every error a call returns once a request was attempted. Its text names the method and
// the URL without the query, so the signature parameters never appear in it.
type Error struct {
	Reason Reason
	// Status is the HTTP status when the node answered (HTTPStatus, BadResponse), else 0.
	Status int
	// RetryAfter is the node's Retry-After header on a 429 or 503, else 0. Not capped here.
	RetryAfter time.Duration
	Err        error
}

func (e *Error) Error() string { return e.Reason.String() + ": " + e.Err.Error() }

func (e *Error) Unwrap() error { return e.Err }

// Classify names the reason for a transport error (from Do or from reading the body); the storage
// node client (internal/storagenode) classifies its failures with it too.
func Classify(err error) Reason {
	var ne net.Error
	switch {
	case isBlocked(err):
		return Blocked
	case errors.Is(err, syscall.ECONNREFUSED):
		return Refused
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, syscall.ETIMEDOUT),
		errors.As(err, &ne) && ne.Timeout():
		return Timeout
	}
	return Network
}
