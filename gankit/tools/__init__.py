"""Tools for people, not for lessons: the `gankit` command (cli), running lessons headless
(runner), student versions (student), benchmarks (bench) and the lesson list (lessons).
Nothing in the library imports this package."""
