/** Learning-rate schedules over epochs (0-based epoch index). */
export type ScheduleKind = "constant" | "paper_step" | "reference_code_step";

export interface LearningRateSchedule {
  kind: ScheduleKind;
  initialLr: number;
}

/**
 * paper_step: lr/10 from 1/4 of training and lr/100 from 1/2 (the paper, after Ye et al.).
 * reference_code_step: lr/10 from 1/2 and lr/100 from 3/4 (the authors' code).
 */
export function learningRateAt(schedule: LearningRateSchedule, epoch: number, totalEpochs: number): number {
  const progress = epoch / totalEpochs;
  const [first, second] = schedule.kind === "paper_step" ? [0.25, 0.5] : [0.5, 0.75];
  if (schedule.kind === "constant") return schedule.initialLr;
  if (progress >= second) return schedule.initialLr / 100;
  if (progress >= first) return schedule.initialLr / 10;
  return schedule.initialLr;
}
