"""What a command-line tool must print when it refuses its input: exit code 2 and one `error:` line."""


def error_line(result):
    """The single `error: ...` line on stderr of a finished subprocess that exited 2, with no traceback."""
    assert result.returncode == 2, result.stderr[-2000:]
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert len(lines) == 1, result.stderr[-2000:]
    return lines[0]
