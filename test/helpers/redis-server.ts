/**
 * A real redis-server for one test file: started on a free loopback port with persistence off,
 * stoppable and restartable on the same port (to test Redis going away), stopped in afterAll.
 * The starter is the bench's (bench/redis-server.ts), so the two cannot drift apart.
 */
export { freePort, type RedisServer, startRedisServer } from '../../bench/redis-server.js';
