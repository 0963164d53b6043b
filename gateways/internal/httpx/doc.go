// Package httpx holds what the HTTP gateways (REST, SSE, long-poll) share:
// the HTTP form of errors (status headers and the JSON body, built on the
// vocabulary of gateways/internal/wire), request body deadlines, parsing
// of room lists and positions from a query, and the tracking of in-flight
// requests that lets a gateway Close. It is internal to gateways/:
// gateways never import each other, they import this.
package httpx
