// Package deploy turns a pushed commit (or a directory) into a release and
// makes it the user's project: the release is unpacked into
// RELEASES/<UTC time>-<short id>/, its dependencies installed by the
// installers its files call for (package.json, go.mod, requirements.txt,
// cpanfile/Makefile.PL/Build.PL, Gemfile), its postinstall run, its
// supervisord.conf and cron checked as `roost check` checks them, and only
// then is the project's symlink (~/current) switched, atomically, and the
// user's supervisor told to apply it and restart the programs on the new
// code. A step that fails leaves the project and everything running as it
// was, and removes its partial release.
//
// The steps are data (Step): a dry run prints them. Everything here runs
// as the user who pushed, with that user's rights only; the master never
// calls this package.
package deploy
