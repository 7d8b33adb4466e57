/** Public door of streams/: NATS connection, topology, subjects, schemas, codecs, publishing. */
export * from './subjects.ts';
export * from './messages.schema.ts';
export * from './codec.ts';
export * from './connection.ts';
export * from './topology.ts';
export * from './ack-publisher.ts';
export * from './publish.ts';
export * from './pull-pump.ts';
export * from './paced-publish.ts';
export * from './bar-follower.ts';
export * from './dead-letter-size.ts';
export * from './resilient-publish.ts';
export * from './backoff.ts';
export * from './batch-consumer.ts';
export * from './dead-letter.ts';
export * from './work-claims.ts';
