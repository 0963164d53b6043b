// Package httpx holds what the HTTP gateways (REST, SSE, long-poll) share:
// the one table from errors to their wire form, the JSON error body,
// parsing of room lists and positions from a query, and the tracking of
// in-flight requests that lets a gateway Close. It is internal to
// gateways/: gateways never import each other, they import this.
package httpx
