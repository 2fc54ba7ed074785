"""Text for messages."""


def one_line(text: str, limit: int = 300) -> str:
    """The first line of `text`, at most `limit` characters (C++ frames and tracebacks stay out of messages)."""
    first = str(text).strip().splitlines()[0] if str(text).strip() else ""
    return first if len(first) <= limit else first[:limit - 3] + "..."
