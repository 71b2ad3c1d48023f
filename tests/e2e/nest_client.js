// The NestJS RMQ client exactly as the seed's api-gateway builds it: Transport.RMQ,
// queueOptions {durable: true}, send({cmd: 'analyze'}, ...). Prints the reply as JSON.
require('reflect-metadata');
const { ClientProxyFactory, Transport } = require('@nestjs/microservices');
const { firstValueFrom, timeout } = require('rxjs');

(async () => {
  const client = ClientProxyFactory.create({
    transport: Transport.RMQ,
    options: {
      urls: [process.env.NEST_AMQP_URL],
      queue: 'python-service-queue',
      queueOptions: { durable: true },
    },
  });
  await client.connect();
  const reply = await firstValueFrom(
    client.send({ cmd: 'analyze' }, { text: 'from nest' }).pipe(timeout(20000)),
  );
  process.stdout.write(JSON.stringify(reply) + '\n');
  await client.close();
  process.exit(0);
})().catch((e) => {
  process.stderr.write(String(e && e.stack ? e.stack : e) + '\n');
  process.exit(1);
});
