using CpsLedger.Api.Platform;
using JasperFx.CommandLine;
using Marten;
using JasperFx;
using JasperFx.Events;
using Marten.Events;
using Marten.Exceptions;

namespace CpsLedger.Api.Membership;

/// <summary>A number the events give one account while its claim row names another: a person has to look (never changed here).</summary>
public sealed record NumberClaimHeldElsewhere(string MembershipNumber, Guid AccountByEvents, Guid ClaimedBy);

public sealed record NumberClaimBackfillReport(
    int NumbersInEvents,
    int AlreadyClaimed,
    IReadOnlyList<string> Added,
    IReadOnlyList<NumberClaimHeldElsewhere> HeldElsewhere);

/// <summary>
/// Writes the membership number claim rows the events make and the table lacks. Ledgers that recorded old CPS membership numbers
/// before those were claimed (2026-12-03, cd1cdfe) have no rows for them: a join could then draw such a number for another
/// account, and verification reports each one missing. The rows are derived (<see cref="MembershipNumberClaims.FromEvents"/>):
/// nothing is appended to the log, and a row that names another account is reported, not changed.
/// </summary>
public static class NumberClaimBackfill
{
    private const int BatchSize = 500;

    public static async Task<NumberClaimBackfillReport> RunAsync(IDocumentStore store, string user, bool dryRun, CancellationToken ct)
    {
        Dictionary<string, Guid> expected;
        Dictionary<string, Guid> stored;
        await using (var query = store.QuerySession())
        {
            var events = await query.Events.QueryAllRawEvents().Where(e => e.EventTypesAre(MembershipNumberClaims.ClaimingEvents))
                .OrderBy(e => e.Sequence).ToListAsync(ct);
            expected = MembershipNumberClaims.FromEvents(events);
            stored = (await query.Query<MembershipNumberClaim>().ToListAsync(ct)).ToDictionary(c => c.Id, c => c.AccountId, StringComparer.Ordinal);
        }

        var heldElsewhere = new List<NumberClaimHeldElsewhere>();
        var missing = new List<MembershipNumberClaim>();
        var alreadyClaimed = 0;
        foreach (var (number, account) in expected.OrderBy(c => c.Key, StringComparer.Ordinal))
        {
            if (!stored.TryGetValue(number, out var holder))
                missing.Add(new MembershipNumberClaim { Id = number, AccountId = account });
            else if (holder != account)
                heldElsewhere.Add(new NumberClaimHeldElsewhere(number, account, holder));
            else
                alreadyClaimed++;
        }

        var added = new List<string>();
        if (!dryRun)
        {
            foreach (var batch in missing.Chunk(BatchSize))
            {
                // A join may claim one of these numbers while this runs (it checks the old accounts' numbers, so only a number
                // no old account lists): then the batch fails as a whole and goes again one row at a time.
                if (await TryInsertAsync(store, user, batch, ct))
                {
                    added.AddRange(batch.Select(c => c.Id));
                    continue;
                }

                foreach (var claim in batch)
                {
                    if (await TryInsertAsync(store, user, [claim], ct))
                        added.Add(claim.Id);
                    else
                    {
                        await using var query = store.QuerySession();
                        var holder = await query.LoadAsync<MembershipNumberClaim>(claim.Id, ct);
                        heldElsewhere.Add(new NumberClaimHeldElsewhere(claim.Id, claim.AccountId, holder?.AccountId ?? Guid.Empty));
                    }
                }
            }
        }

        return new NumberClaimBackfillReport(expected.Count, alreadyClaimed, dryRun ? [.. missing.Select(c => c.Id)] : added, heldElsewhere);
    }

    private static async Task<bool> TryInsertAsync(IDocumentStore store, string user, IReadOnlyCollection<MembershipNumberClaim> claims,
        CancellationToken ct)
    {
        await using var session = store.LightweightSession();
        session.LastModifiedBy = user;
        session.Insert(claims.ToArray());
        try
        {
            await session.SaveChangesAsync(ct);
            return true;
        }
        catch (Exception e) when (e is DocumentAlreadyExistsException
                                  || e.InnerException is Npgsql.PostgresException { SqlState: Npgsql.PostgresErrorCodes.UniqueViolation })
        {
            return false;
        }
    }
}

public sealed class NumberClaimBackfillInput : LedgerInput
{
    [Description("Only say which claim rows would be written")]
    public bool DryRunFlag { get; set; }

    [Description("User name recorded on the rows written (default: cli-<operating system user>)")]
    public string? UserFlag { get; set; }
}

[Description("Writes the membership number claim rows the events make and the table lacks (ledgers from before 2026-12-03); " +
             "reports a number whose row names another account", Name = "number-claims-backfill")]
public sealed class NumberClaimBackfillCommand : JasperFxAsyncCommand<NumberClaimBackfillInput>
{
    public override async Task<bool> Execute(NumberClaimBackfillInput input)
    {
        // The output is this command's answer, for a person or a script.
        var output = Console.Out;
        if (input.UserFlag is { } flag && string.IsNullOrWhiteSpace(flag))
        {
            await output.WriteLineAsync("--user must name who writes the rows. Leave it out for cli-<operating system user>.");
            return false;
        }

        using var host = await input.BuildLedgerHostAsync();
        var report = await NumberClaimBackfill.RunAsync(host.Services.GetRequiredService<IDocumentStore>(), CommandLineUser.Of(input.UserFlag),
            input.DryRunFlag, CancellationToken.None);
        await output.WriteLineAsync(Describe(report, input.DryRunFlag));
        return report.HeldElsewhere.Count == 0;
    }

    public static string Describe(NumberClaimBackfillReport report, bool dryRun)
    {
        var lines = new List<string>
        {
            $"{report.NumbersInEvents} membership number(s) in the events; {report.AlreadyClaimed} already claimed by their account; " +
            (dryRun ? $"{report.Added.Count} claim row(s) missing (dry run: nothing written)." : $"{report.Added.Count} claim row(s) written."),
        };
        lines.AddRange(report.Added.Select(n => $"  {(dryRun ? "missing" : "written")}: {n}"));
        if (report.HeldElsewhere.Count > 0)
        {
            lines.Add($"{report.HeldElsewhere.Count} number(s) claimed by another account than the events give it to (not changed; " +
                      "look at both accounts' histories):");
            lines.AddRange(report.HeldElsewhere.Select(h => $"  {h.MembershipNumber}: events give it to {h.AccountByEvents}, claimed by " +
                                                            (h.ClaimedBy == Guid.Empty ? "(unknown)" : h.ClaimedBy.ToString())));
        }

        return string.Join(Environment.NewLine, lines);
    }
}
