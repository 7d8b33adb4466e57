import type pg from 'pg';
import type { TableStats } from './manifest.ts';

/**
 * Row count and an order-independent md5 of every base table of the `public`
 * schema, as the client's transaction sees them. The digest is of the sorted
 * md5s of the rows' text forms: the same rows give the same digest in any
 * database, whatever their physical order. Times are rendered in UTC so the
 * session's time zone cannot change the text.
 */
export async function tableStats(client: pg.ClientBase): Promise<Record<string, TableStats>> {
  await client.query(`SET LOCAL TIME ZONE 'UTC'`);
  const tables = await client.query<{ name: string }>(
    `SELECT table_name AS name FROM information_schema.tables
     WHERE table_schema = 'public' AND table_type = 'BASE TABLE' ORDER BY table_name`,
  );
  const out: Record<string, TableStats> = {};
  for (const { name } of tables.rows) {
    const quoted = `"${name.replace(/"/g, '""')}"`;
    const r = await client.query<{ rows: string; md5: string }>(
      `SELECT count(*)::text AS rows, md5(coalesce(string_agg(h, '' ORDER BY h), '')) AS md5
       FROM (SELECT md5(t::text) AS h FROM public.${quoted} t) s`,
    );
    const row = r.rows[0];
    out[name] = { rows: Number(row?.rows ?? 0), md5: row?.md5 ?? '' };
  }
  return out;
}
