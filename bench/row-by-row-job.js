// The old job's way, the baseline of the row-by-row comparisons: one SELECT per action, then
// one UPDATE per row, all in one transaction. Returns the ids it changed.
export async function rowByRowJob(client, table, zone) {
  await client.query('BEGIN');
  const { rows: toActivate } = await client.query(
    `SELECT id FROM ${table} WHERE scheduled AND auto_activate AND schedule_date + coalesce(schedule_time, '00:00') <= now() AT TIME ZONE $1`,
    [zone],
  );
  for (const { id } of toActivate) {
    await client.query(`UPDATE ${table} SET is_active = true, scheduled = false, updated_at = now() WHERE id = $1`, [id]);
  }
  const { rows: toDeactivate } = await client.query(
    `SELECT id FROM ${table} WHERE is_active AND auto_deactivate AND valid_until < (now() AT TIME ZONE $1)::date`,
    [zone],
  );
  for (const { id } of toDeactivate) {
    await client.query(`UPDATE ${table} SET is_active = false, updated_at = now() WHERE id = $1`, [id]);
  }
  await client.query('COMMIT');
  return { activated: toActivate.map((r) => r.id), deactivated: toDeactivate.map((r) => r.id) };
}
