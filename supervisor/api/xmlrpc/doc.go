// Package xmlrpc is supervisord 4.2.5's XML-RPC interface and its log
// streams, served over an api.Backend: POST /RPC2 (NewHandler) and
// GET /logtail/NAME[/stdout|stderr], GET /mainlogtail (NewLogtailHandler).
// supervisorctl, Ansible's supervisorctl module, monitoring plugins and
// scripts that speak to supervisord speak to roost through it unchanged.
//
// The codec is written on encoding/xml. Responses are byte-for-byte what
// supervisord sends (it marshals with Python's xmlrpc.client.dumps), with
// three deliberate differences, each one a case where supervisord's output
// breaks its own clients:
//
//   - characters XML 1.0 forbids (ANSI ESC and the other C0 controls but tab,
//     newline and carriage return, U+FFFE, U+FFFF) and invalid UTF-8 are sent
//     as U+FFFD. supervisord sends them raw and the client's parser dies
//     ("not well-formed (invalid token)"), so a log with ANSI colours cannot
//     be tailed. The JSON API carries the exact bytes.
//   - a carriage return is sent as "&#13;", so it reaches the client as a
//     carriage return (raw, an XML parser turns it into a newline).
//   - an integer outside the 32-bit range is sent as <i8> (Python's client
//     and most others read it); supervisord fails the whole call instead.
//
// Requests are capped (Options.MaxRequestBytes, 4 MiB by default, answered
// with an INCORRECT_PARAMETERS fault) and so is the nesting of values
// (MaxDepth). A body that is not a methodCall gets HTTP 400, as from
// supervisord.
package xmlrpc
