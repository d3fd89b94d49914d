/** The median of some numbers (the mean of the middle two for an even count), null for none. */
export function median(numbers: readonly number[]): number | null {
  const values = [...numbers].sort((a, b) => a - b);
  if (values.length === 0) return null;
  const middle = values.length / 2;
  return values.length % 2 ? values[Math.floor(middle)]! : (values[middle - 1]! + values[middle]!) / 2;
}
