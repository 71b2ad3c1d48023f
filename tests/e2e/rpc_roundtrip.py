"""RPC round trip through a broker that `topo apply topologies/dev.yaml` set up.

A python-service consumer (aio-pika, logged in as the `python-service` user the file
declares) answers `{cmd: "analyze"}` requests through reply_to and correlation_id, as the
seed's Python service does. Clients:
  * an aio-pika client that asserts the queue with durable=True, as NestJS's RMQ client does;
  * when E2E_NEST_CLIENT names a script, the real NestJS ClientProxy (Transport.RMQ) run
    with node, which must get the reply back.

Environment: E2E_AMQP (amqp://host:port), E2E_VHOST, E2E_SERVER_USER/E2E_SERVER_PASSWORD,
E2E_CLIENT_USER/E2E_CLIENT_PASSWORD, optional E2E_NEST_CLIENT and NODE_PATH.
Exit 0 on success; anything else prints why.
"""

import asyncio
import json
import os
import sys
import uuid
from urllib.parse import quote

import aio_pika

QUEUE = "python-service-queue"


def url(user_var, pw_var):
    base = os.environ["E2E_AMQP"].rstrip("/")
    user = quote(os.environ[user_var], safe="")
    pw = quote(os.environ[pw_var], safe="")
    scheme, rest = base.split("://", 1)
    return f"{scheme}://{user}:{pw}@{rest}/{quote(os.environ['E2E_VHOST'], safe='')}"


async def serve(ready: asyncio.Event):
    conn = await aio_pika.connect(url("E2E_SERVER_USER", "E2E_SERVER_PASSWORD"), timeout=10)
    channel = await conn.channel()
    # As the seed's service does: assert the queue topo declared (same options).
    queue = await channel.declare_queue(QUEUE, durable=True)

    async def on_message(message: aio_pika.abc.AbstractIncomingMessage):
        async with message.process():
            request = json.loads(message.body)
            pattern = request.get("pattern")
            if isinstance(pattern, str):
                pattern = json.loads(pattern)
            assert pattern == {"cmd": "analyze"}, pattern
            reply = {
                "response": {"analyzed": request.get("data"), "by": "python-service"},
                "isDisposed": True,
                "id": request.get("id"),
            }
            await channel.default_exchange.publish(
                aio_pika.Message(
                    body=json.dumps(reply).encode(),
                    correlation_id=message.correlation_id,
                    content_type="application/json",
                ),
                routing_key=message.reply_to,
            )

    await queue.consume(on_message)
    ready.set()
    return conn


async def python_client():
    conn = await aio_pika.connect(url("E2E_CLIENT_USER", "E2E_CLIENT_PASSWORD"), timeout=10)
    channel = await conn.channel()
    # What NestJS's RMQ client does at connect: assert the queue as {durable: true}.
    await channel.declare_queue(QUEUE, durable=True)
    replies = await channel.declare_queue("", exclusive=True, auto_delete=True)
    correlation_id = str(uuid.uuid4())
    body = {"pattern": {"cmd": "analyze"}, "data": {"text": "hello"}, "id": correlation_id}
    await channel.default_exchange.publish(
        aio_pika.Message(
            body=json.dumps(body).encode(),
            correlation_id=correlation_id,
            reply_to=replies.name,
            content_type="application/json",
        ),
        routing_key=QUEUE,
    )
    async with replies.iterator(timeout=15) as it:
        async for message in it:
            await message.ack()
            if message.correlation_id != correlation_id:
                continue
            reply = json.loads(message.body)
            assert reply["response"] == {"analyzed": {"text": "hello"}, "by": "python-service"}, reply
            break
    await conn.close()
    print("python client: reply received")


async def nest_client(script):
    env = dict(os.environ)
    env["NEST_AMQP_URL"] = url("E2E_CLIENT_USER", "E2E_CLIENT_PASSWORD")
    proc = await asyncio.create_subprocess_exec(
        "node", script, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    try:
        out, err = await asyncio.wait_for(proc.communicate(), timeout=60)
    except asyncio.TimeoutError:
        proc.kill()
        raise SystemExit("nestjs client: no answer within 60s")
    if proc.returncode != 0:
        raise SystemExit(f"nestjs client failed ({proc.returncode}): {err.decode()[-2000:]}")
    reply = json.loads(out.decode().strip().splitlines()[-1])
    assert reply == {"analyzed": {"text": "from nest"}, "by": "python-service"}, reply
    print("nestjs client: reply received")


async def main():
    ready = asyncio.Event()
    server = await serve(ready)
    try:
        await asyncio.wait_for(python_client(), timeout=30)
        script = os.environ.get("E2E_NEST_CLIENT")
        if script:
            await nest_client(script)
    finally:
        await server.close()


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except Exception as e:  # a clear line for the Rust test's assertion message
        print(f"rpc round trip failed: {type(e).__name__}: {e}", file=sys.stderr)
        sys.exit(1)
