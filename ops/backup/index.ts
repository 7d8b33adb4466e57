/**
 * Public door of ops/backup/: consistent backups of the database (pg_dump directory
 * format read from one exported snapshot, with a manifest of row counts, table
 * checksums and file sha256s), their verification, restore with a check against
 * the manifest, retention and the daily schedule of `signals run`.
 */
export { BackupError } from './backup-error.ts';
export { takeBackup } from './take-backup.ts';
export { BackupVerifyError, verifyBackup, type VerifyReport } from './verify-backup.ts';
export { restoreBackup, type RestoreReport, type TableCheck } from './restore-backup.ts';
export { pruneBackups, scheduledBackupName } from './retention.ts';
export { scheduledBackup, startBackupSchedule, type BackupScheduleDeps, type ScheduledBackup } from './backup-schedule.ts';
export { manifestSchema, readManifest, type Manifest, type TableStats } from './manifest.ts';
export { PgToolError } from './pg-tools.ts';
