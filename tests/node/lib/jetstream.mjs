// Reads what the gateway stored in JetStream (stream BP_INGEST, subject bp.in.<pipe_id>).
import { connect, StringCodec } from 'nats';

export const STREAM = 'BP_INGEST';
const sc = StringCodec();

export class JetStreamProbe {
  static async connect(url) {
    const probe = new JetStreamProbe();
    probe.nc = await connect({ servers: url, name: 'bp-node-tests' });
    probe.jsm = await probe.nc.jetstreamManager();
    return probe;
  }

  async close() {
    await this.nc?.close();
  }

  /**
   * The last message on bp.in.<pipeId>, or null when there is none:
   * { seq, subject, headers: {name: value}, records (parsed payload), raw }.
   */
  async lastMessage(pipeId) {
    let msg;
    try {
      msg = await this.jsm.streams.getMessage(STREAM, { last_by_subj: `bp.in.${pipeId}` });
    } catch (err) {
      if (/no message found|not found|404/i.test(`${err.message} ${err.code}`)) return null;
      throw err;
    }
    const headers = {};
    if (msg.header) for (const [name] of msg.header) headers[name] = msg.header.get(name);
    const raw = sc.decode(msg.data);
    return { seq: msg.seq, subject: msg.subject, headers, raw, records: JSON.parse(raw) };
  }

  /** Sequence of the last message on the pipe's subject (0 when none). */
  async lastSeq(pipeId) {
    return (await this.lastMessage(pipeId))?.seq ?? 0;
  }

  /** Number of messages kept for the pipe's subject. */
  async messageCount(pipeId) {
    const subject = `bp.in.${pipeId}`;
    const info = await this.jsm.streams.info(STREAM, { subjects_filter: subject });
    return info.state.subjects?.[subject] ?? 0;
  }

  /** Whether the durable consumer exists on BP_INGEST. */
  async hasConsumer(name) {
    try {
      await this.jsm.consumers.info(STREAM, name);
      return true;
    } catch (err) {
      if (/consumer not found|not found|404/i.test(`${err.message} ${err.code}`)) return false;
      throw err;
    }
  }
}
