// Package auth decides who a client is and what it may do: it verifies the
// JSON Web Tokens and API keys clients present, turns them into an
// Identity, and answers whether an Identity may subscribe to, publish to,
// read the history of, or see the presence of a room.
//
// Every gateway (REST publish and history, SSE, long-poll, Socket.IO)
// checks the same *Authenticator, so a room is equally protected on every
// transport. The package knows nothing of HTTP or Socket.IO: gateways find
// the credential on their transport and pass the string to Authenticate.
//
// Tokens are verified with github.com/golang-jwt/jwt/v5. The accepted
// signing algorithms are pinned by configuration (never taken from the
// token), "none" is never accepted, exp is required, and exp, nbf and iat
// are checked with a small leeway. Permissions come from the token's
// `rooms` claim, as room patterns (see Match), to which the server's
// policy adds defaults for every token holder (Config.UserPermissions) and
// per role (Config.RolePermissions, by the token's `roles`/`role` claims).
// Direct-message rooms (dm:{a}:{b}, see DirectRoom) are decided by their
// name instead: open to their two users, and to API keys by their scope.
// API keys are either unscoped (everything, and the operator endpoints) or
// named and scoped to some rooms and actions (APIKey). The policy document
// an operator writes (PolicyFile, rtbroker serve --policy) is parsed and
// merged with the command's shortcut flags here too (MergePolicy), so that
// what it means is decided next to what it configures.
package auth
