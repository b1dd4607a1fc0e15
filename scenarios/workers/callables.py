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

