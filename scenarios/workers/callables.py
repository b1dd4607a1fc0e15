"""Workers written as Python functions (`callable: callables:NAME` in a scenario).

Each takes a started-or-not WorkerClient; what it returns is the run's output
unless it finished the run itself.
"""


def word_count(client):
    """Count the words of the input's text, post them as a result and return them."""
    payload = client.start()
    text = (payload["input"] or {}).get("text", "")
    counts = {}
    for word in text.split():
        counts[word] = counts.get(word, 0) + 1
    client.results({"words": len(text.split())})
    return {"words": len(text.split()), "distinct": len(counts)}


def refuse(client):
    """Raise after starting: the run fails with the exception's type and message."""
    client.start()
    raise ValueError("this worker refuses every input")


def fails_twice(client):
    """Fail the first two attempts and succeed on the third (input `attempt`: the state's RetryCount)."""
    payload = client.start()
    attempt = (payload["input"] or {}).get("attempt", 0)
    if attempt < 2:
        client.fail("Flaky.Error", f"attempt {attempt + 1} fails")
        return None
    return {"attempts": attempt + 1}
