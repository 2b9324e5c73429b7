using CpsLedger.Api.Audit;

namespace CpsLedger.Api.Platform;

/// <summary>
/// The rebuild commands' check of every hash chain before they begin. A rebuild replays the stored events: when one was changed
/// outside the ledger (a broken link), the projections would come to agree with the change, and the difference that
/// <c>verify</c> showed, the only record of what the event said before, would be gone (seen 2026-12-08: an adjustment edited by
/// hand from 50 to 5000 points, then <c>projections rebuild -p AccountAdjustments</c> took the total from -730 to 4220). So a
/// rebuild over a broken chain is refused unless the operator says, with <c>--despite-chain-breaks</c>, that it was looked into
/// (docs/operations.md, "When verification finds a difference").
/// </summary>
public static class RebuildOverBrokenChains
{
    /// <summary>The flag's help, for both rebuild commands.</summary>
    public const string FlagDescription =
        "Rebuild even when a hash chain is broken (the stored events were changed outside the ledger); without it such a rebuild is refused";

    // Enough to see what broke; verify lists every one.
    private const int Listed = 10;

    /// <summary>
    /// True when every chain is intact, or when <paramref name="despite"/> (the breaks are then written to
    /// <paramref name="error"/> and the rebuild goes on); false with the breaks and what to do on <paramref name="error"/>.
    /// </summary>
    public static async Task<bool> AllowsAsync(IServiceProvider services, bool despite, TextWriter error, CancellationToken ct)
    {
        var breaks = await services.GetRequiredService<ChainVerification>().VerifyAsync(null, null, ct, connections: 2);
        if (breaks.Count == 0)
            return true;

        await error.WriteLineAsync(despite
            ? $"{Counted(breaks.Count)} found; rebuilding anyway (--despite-chain-breaks): the projections will agree with the events as they are stored now."
            : $"Rebuild refused: {Counted(breaks.Count)} found. The stored events were changed outside the ledger, and a rebuild " +
              "would make the projections agree with the change, losing the difference verify shows. Nothing was rebuilt. Keep " +
              "verify's output, restore the events from a backup taken before the break (docs/operations.md, \"When verification " +
              "finds a difference\"), then rebuild; or rebuild anyway with --despite-chain-breaks.");
        foreach (var b in breaks.Take(Listed))
            await error.WriteLineAsync($"  chain {b.ChainId} broken at link {b.Position}: {b.Problem}" + (b.Type is null
                ? $" (event {b.EventId}, sequence {b.Sequence}: gone)"
                : $" {b.Type} (event {b.EventId}, sequence {b.Sequence})"));
        if (breaks.Count > Listed)
            await error.WriteLineAsync($"  and {breaks.Count - Listed} more (verify lists them all).");
        return despite;
    }

    private static string Counted(int breaks) => breaks == 1 ? "1 hash chain break" : $"{breaks} hash chain breaks";
}
