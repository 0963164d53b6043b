package defaults

// MaxHistory is the largest number of a room's last events a client may
// ask to be sent when it joins or opens a stream (`history`: Socket.IO
// room:join, SSE and long-poll): the same bound as a history page.
const MaxHistory = 1000
