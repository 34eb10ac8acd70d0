"""The end-to-end benchmark's source module: sends tweets (one or a batch per message) to its output.

``python e2e_source.py CONNECTION_STRING CA_FILE TWEETS_JSONL N BATCH RATE``. Prints ``ready``, waits for
a line on stdin, sends N messages (paced at RATE/s, or from 16 threads when RATE is 0), prints
``{"sent", "seconds", "sent_at"}`` and exits after one more line on stdin.
"""

import json
import sys
import time
from concurrent.futures import ThreadPoolExecutor

from azure.iot.device import IoTHubModuleClient, Message


def main() -> None:
    cs, tweets_file = sys.argv[1], sys.argv[3]
    with open(sys.argv[2]) as handle:
        ca = handle.read()
    n, batch, rate = int(sys.argv[4]), int(sys.argv[5]), float(sys.argv[6])
    with open(tweets_file, encoding="utf-8") as handle:
        tweets = [json.loads(line)["text"] for line in handle]
    client = IoTHubModuleClient.create_from_connection_string(cs, server_verification_cert=ca)
    client.connect()

    def body(i: int) -> str:
        if batch == 1:
            return json.dumps({"text": tweets[i % len(tweets)]})
        return json.dumps({"texts": [tweets[(i * batch + j) % len(tweets)] for j in range(batch)]})

    bodies = [body(i) for i in range(n)]
    sent_at: dict[str, float] = {}
    print("ready", flush=True)
    sys.stdin.readline()

    def send(i: int) -> None:
        m = Message(bodies[i], message_id=str(i), content_encoding="utf-8", content_type="application/json")
        sent_at[str(i)] = time.time()
        client.send_message_to_output(m, "tweets")

    start = time.perf_counter()
    if rate > 0:
        for i in range(n):
            delay = start + i / rate - time.perf_counter()
            if delay > 0:
                time.sleep(delay)  # pacing the load generator, not synchronisation
            send(i)
    else:
        with ThreadPoolExecutor(16) as pool:
            list(pool.map(send, range(n)))
    print(json.dumps({"sent": n, "seconds": time.perf_counter() - start, "sent_at": sent_at}), flush=True)
    sys.stdin.readline()
    client.shutdown()


if __name__ == "__main__":
    main()
