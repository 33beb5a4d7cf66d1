// Package logrotate holds roost's log sinks: the files that capture each
// program's stdout and stderr, and the supervisor's own main log.
//
// It follows supervisord's contract for *_logfile_maxbytes and
// *_logfile_backups (supervisor/loggers.py RotatingFileHandler): the live file
// is app.log, rotation renames app.log.N-1 to app.log.N ... app.log to
// app.log.1 and reopens app.log; maxbytes 0 never rotates; backups 0
// truncates app.log in place; files are opened for appending, so output
// survives restarts. Unlike supervisord it never splits a line across two
// files and never drops one (see Sink.Write for the exact rule).
//
// The pieces, in the order data flows through them:
//
//	pipe ─ Copy ─▶ LineWriter ─▶ Sink ─▶ app.log (rotated)
//	                                 └─▶ Follow (tail -f), without polling
//
// ReadFile and TailFile are supervisord's readFile and tailFile
// (supervisor/options.py), byte for byte; FollowFile follows a file that roost
// does not write itself, with fsnotify.
//
// The main log ([supervisord] logfile) is a Sink too, not a lumberjack Logger:
// lumberjack counts in megabytes, treats 0 as 100 MB, names backups with
// timestamps and keeps no backups=0 mode, so it cannot honour logfile_maxbytes
// and logfile_backups as supervisord defines them. A log/slog handler writes
// one record per Write call, which is exactly the whole-line input a Sink wants.
package logrotate
