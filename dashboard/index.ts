/** Public door of dashboard/: the live web page of a running system (server, live feed, static page). */
export { startDashboard, DashboardError, type DashboardHandle, type DashboardOptions } from './start-dashboard.ts';
