import { ConsulClient, leaderElection } from 'consul-hotreload';

declare function startScheduler(): void;
declare function stopScheduler(): void;

const consul = new ConsulClient({ address: 'http://127.0.0.1:8500' });
const election = leaderElection(consul, 'service/reports/leader', { value: process.env.HOSTNAME ?? 'me' });

election.on('elected', ({ lockIndex }) => {
  console.log(`leader (term ${lockIndex})`);
  startScheduler();
});
election.on('demoted', ({ reason }) => {
  console.warn(`no longer leader: ${reason}; campaigning again`);
  stopScheduler();
});
election.on('error', (error) => console.warn(error.message)); // retried; never a reason to give up

// On shutdown: resign, so another instance takes over at once instead of after the session's TTL.
process.once('SIGTERM', () => {
  if (election.isLeader) stopScheduler();
  void election.close().then(() => consul.close());
});
