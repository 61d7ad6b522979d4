import { Box, Text } from "ink";
import type { Check, CheckStatus, DiagnoseReport } from "../services/diagnose/index.js";

const STATUS_COLOR: Record<CheckStatus, string> = { ok: "green", warn: "yellow", fail: "red" };
const STATUS_MARK: Record<CheckStatus, string> = { ok: "✔", warn: "▲", fail: "✘" };

export interface DiagnoseViewProps {
  /** The report to draw. */
  readonly report: DiagnoseReport;
  /** Show evidence lines under every check, not only under warnings and failures. */
  readonly verbose?: boolean;
}

function CheckRow({ check, verbose }: { readonly check: Check; readonly verbose: boolean }) {
  const showDetail = verbose || check.status !== "ok";
  return (
    <Box flexDirection="column">
      <Text>
        <Text
          color={STATUS_COLOR[check.status]}
        >{`${STATUS_MARK[check.status]} ${check.status.padEnd(4)}`}</Text>
        <Text> {check.summary}</Text>
        <Text dimColor>{`  (${check.id})`}</Text>
      </Text>
      {showDetail &&
        check.evidence.map((line) => (
          <Text key={line} dimColor>
            {`        ${line}`}
          </Text>
        ))}
      {check.recommendation && check.status !== "ok" && (
        <Text color="cyan">{`        → ${check.recommendation}`}</Text>
      )}
    </Box>
  );
}

/** `meshctl diagnose` on a terminal: checks grouped, statuses coloured, details where they matter. */
export function DiagnoseView({ report, verbose = false }: DiagnoseViewProps) {
  const groups = [...new Set(report.checks.map((c) => c.group))];
  return (
    <Box flexDirection="column">
      <Text bold>
        {`meshctl diagnose — ${report.host.hostname} · Linux ${report.host.kernel} · ${report.host.cpus} CPUs · Node ${report.host.node}`}
      </Text>
      {groups.map((group) => (
        <Box key={group} flexDirection="column" marginTop={1}>
          <Text bold underline>
            {group}
          </Text>
          {report.checks
            .filter((c) => c.group === group)
            .map((c) => (
              <CheckRow key={c.id} check={c} verbose={verbose} />
            ))}
        </Box>
      ))}
      <Box marginTop={1}>
        <Text>
          <Text color="green">{`${report.summary.ok} ok`}</Text>
          <Text>{" · "}</Text>
          <Text color="yellow">{`${report.summary.warn} warn`}</Text>
          <Text>{" · "}</Text>
          <Text color="red">{`${report.summary.fail} fail`}</Text>
        </Text>
      </Box>
    </Box>
  );
}
