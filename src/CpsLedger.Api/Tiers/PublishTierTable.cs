using Microsoft.AspNetCore.Http.HttpResults;
using System.Globalization;
using CpsLedger.Api.Platform;
using CpsLedger.Api.Support;
using FluentValidation;
using JasperFx.Events;
using Marten;
using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.Mvc;
using Microsoft.Extensions.Options;
using CpsLedger.Api.Invoicing;
using Wolverine.Http;
using Wolverine.Marten;

namespace CpsLedger.Api.Tiers;

/// <summary>Publish a new version of the tier table (finance). Decisions made from now on use it and record its version; a renewal
/// already offered is decided on the offer's table until the next offer.</summary>
/// <param name="InvitationThreshold">Allocated points at which an account is invited to join.</param>
/// <param name="EnterpriseAbovePoints">Enterprise tiers need more points than this.</param>
/// <param name="Tiers">Every tier of the new table; codes unique.</param>
/// <param name="Reason">Why the table changes, for the audit trail.</param>
public sealed record PublishTierTable(int InvitationThreshold, int EnterpriseAbovePoints, IReadOnlyList<TierDefinition> Tiers,
    [property: MultiLineText] string Reason);

public sealed class PublishTierTableValidator : AbstractValidator<PublishTierTable>
{
    private static int? LowestStandardPoints(PublishTierTable table) =>
        table.Tiers?.Where(t => t is { Kind: TierKind.Standard, PointsRequired: not null }).Min(t => t.PointsRequired);

    private static readonly HashSet<string> Currencies = CultureInfo.GetCultures(CultureTypes.SpecificCultures)
        .Select(c => { try { return new RegionInfo(c.Name).ISOCurrencySymbol; } catch (ArgumentException) { return null; } })
        .OfType<string>()
        .ToHashSet(StringComparer.Ordinal);

    /// <summary>Whether <paramref name="code"/> is an ISO 4217 currency code in upper case (a tier's fee, a surcharge's setting).</summary>
    public static bool IsCurrency(string code) => Currencies.Contains(code);

    public PublishTierTableValidator()
    {
        RuleFor(x => x.InvitationThreshold).GreaterThan(0);
        // Invited means able to join: an invitation below every standard tier would offer a membership no tier allows.
        // A standard tier without points is refused at its own field (below), not said again here with no number.
        RuleFor(x => x.InvitationThreshold)
            .Must((table, threshold) => threshold >= LowestStandardPoints(table))
            .WithMessage(table => $"Must be at least the points of the lowest standard tier ({LowestStandardPoints(table)}): an invited " +
                                  "account must have a tier it can join.")
            .When(x => LowestStandardPoints(x) is not null);
        RuleFor(x => x.EnterpriseAbovePoints).GreaterThanOrEqualTo(0);
        RuleFor(x => x.Reason).ValidReason();
        RuleFor(x => x.Tiers).NotEmpty().WithMessage("Give at least one tier.")
            .Must(t => t.Select(x => x.Code).Distinct(StringComparer.Ordinal).Count() == t.Count).WithMessage("Tier codes must be unique.")
            .Must(t => t.Any(x => x.Kind == TierKind.Standard)).WithMessage("At least one standard tier is needed.")
            .Must(t => t.Where(x => x.Kind == TierKind.Standard).Select(x => x.PointsRequired).Distinct().Count()
                       == t.Count(x => x.Kind == TierKind.Standard))
            .WithMessage("Standard tiers must need different numbers of points.")
            .Must(t => t.Select(x => x.Currency).Distinct().Count() <= 1).WithMessage("All tiers must be priced in one currency.")
            .When(x => x.Tiers is not null);
        RuleForEach(x => x.Tiers).ChildRules(tier =>
        {
            tier.RuleFor(t => t.Code).NotEmpty().MaximumLength(40).Matches("^[a-z][a-z0-9_]*$")
                .WithMessage("Tier code must be lower-case letters, digits and underscores, e.g. \"gold\".");
            tier.RuleFor(t => t.Name).NotEmpty().MaximumLength(80).PrintableOnInvoices(); // every fee's invoice line names the tier
            tier.RuleFor(t => t.Kind).IsInEnum();
            tier.RuleFor(t => t.PointsRequired).NotNull().WithMessage("A standard tier needs a positive number of points.")
                .GreaterThan(0).WithMessage("A standard tier needs a positive number of points.")
                .When(t => t.Kind == TierKind.Standard);
            // 0 is still taken (and stored as null): finance's requests sent it, as the docs said, until 2026-12-05.
            tier.RuleFor(t => t.PointsRequired).Must(p => p is null or 0).When(t => t.Kind == TierKind.Enterprise)
                .WithMessage("An enterprise tier has no points of its own (it needs more than enterpriseAbovePoints); leave pointsRequired out.");
            tier.RuleFor(t => t.MaxProducts).NotNull().GreaterThan(0).When(t => t.Kind == TierKind.Enterprise)
                .WithMessage("An enterprise tier needs the number of products it covers (maxProducts > 0).");
            tier.RuleFor(t => t.MaxProducts).Null().When(t => t.Kind == TierKind.Standard)
                .WithMessage("A standard tier does not cover a number of products; leave maxProducts out.");
            tier.RuleFor(t => t.AnnualFee).GreaterThanOrEqualTo(0m).PrecisionScale(12, 2, ignoreTrailingZeros: true);
            tier.RuleFor(t => t.Currency).NotEmpty().Must(Currencies.Contains)
                .WithMessage("Currency must be an ISO 4217 code in upper case, e.g. \"EUR\".");
        });
    }
}

public static class TierTableDefaults
{
    /// <summary>Loads the programme defaults when no tier table exists yet (first start). Safe to run on every start and node.</summary>
    public static Task EnsureAsync(IDocumentStore store, TimeProvider clock, CancellationToken ct = default) =>
        Platform.ReferenceData.StartOnceAsync<TierTableView>(store, TierTableStream.Id, "tier-table-defaults", () => TierTableStream.Defaults(clock.GetUtcNow()), ct);

    /// <summary>
    /// Why the service does not start: a country with a bank-transfer surcharge has no amount in a currency an invoice can still be
    /// issued in, that of the <paramref name="table"/> in force or one of <paramref name="termCurrencies"/> (terms on earlier tables:
    /// <see cref="TermCurrenciesAmongAsync"/>). Null when every such country has an amount in each of them.
    /// </summary>
    public static string? SurchargeGap(TierTableView? table, InvoicingOptions options, IReadOnlyCollection<string>? termCurrencies = null)
    {
        var gaps = new List<string>();
        var tableCurrency = table?.Tiers.FirstOrDefault()?.Currency;
        if (tableCurrency is not null && options.CountriesWithoutSurchargeIn(tableCurrency) is { Count: > 0 } missing)
            gaps.Add($"The tier table in force (version {table!.TableVersion}) is priced in {tableCurrency}, but the bank-transfer surcharge of " +
                     $"{string.Join(", ", missing)} has no amount in {tableCurrency}: add {Settings(missing, tableCurrency)} to the settings, or a " +
                     "bank-transfer invoice there could not be issued.");
        foreach (var currency in (termCurrencies ?? []).Where(c => c != tableCurrency).Distinct().Order(StringComparer.Ordinal))
            if (options.CountriesWithoutSurchargeIn(currency) is { Count: > 0 } lacking)
                gaps.Add($"Membership terms priced in {currency} on an earlier tier table are still invoiced in {currency} (a renewal invoiced " +
                         "ahead, an upgrade's difference, a corrected invoice), but the bank-transfer surcharge of " +
                         $"{string.Join(", ", lacking)} has no amount in {currency}: add {Settings(lacking, currency)} to the settings, or such " +
                         "a bank-transfer invoice there could not be issued.");
        return gaps.Count == 0 ? null : string.Join(" ", gaps);
    }

    private static string Settings(IEnumerable<string> countries, string currency) =>
        string.Join(", ", countries.Select(c => InvoicingOptions.SettingFor(c, currency)));

    /// <summary>
    /// Why the service does not start (<see cref="SurchargeGap"/>), read from the database: the table in force, and the membership terms
    /// in a currency some surcharge lacks. A term is priced on a published version of the table, so only the currencies of earlier
    /// versions that a surcharge lacks are looked for among the terms; usually there are none and no membership document is read.
    /// </summary>
    public static async Task<string?> SurchargeGapAsync(IQuerySession session, InvoicingOptions options, CancellationToken ct)
    {
        var table = await session.LoadAsync<TierTableView>(TierTableStream.Id, ct);
        var inForce = table?.Tiers.FirstOrDefault()?.Currency;
        var earlier = (await session.Events.FetchStreamAsync(TierTableStream.Id, token: ct)).Select(e => e.Data).OfType<TierTablePublished>()
            .SelectMany(t => t.Tiers.Select(tier => tier.Currency)).Distinct()
            .Where(c => c != inForce && options.CountriesWithoutSurchargeIn(c).Count > 0).ToList();
        return SurchargeGap(table, options, earlier.Count == 0 ? [] : await TermCurrenciesAmongAsync(session, earlier, ct));
    }

    /// <summary>
    /// Which of <paramref name="currencies"/> a membership term that can still be invoiced is priced in: the term in force (its own
    /// invoice, an upgrade's difference), the renewal proposed (invoiced ahead, or at the term end), or a past term (a cancelled invoice
    /// of its can be replaced). One query; each currency's search ends at the first term found in it (a currency no term has reads every
    /// membership document: about 0.6 s at 100,000 accounts). A past term cancelled by support counts too, though nothing is invoiced
    /// for it any more: a setting asked for needlessly is cheaper than an invoice not issued.
    /// </summary>
    public static async Task<IReadOnlyList<string>> TermCurrenciesAmongAsync(IQuerySession session, IReadOnlyCollection<string> currencies,
        CancellationToken ct) =>
        await session.QueryAsync<string>($"""
            select c from unnest(?::text[]) c
            where exists (select 1 from {session.DocumentStore.Options.FindOrResolveDocumentType(typeof(Membership.AccountMembership)).TableName.QualifiedName} m
                          where m.data -> 'Membership' ->> 'Currency' = c or m.data -> 'Renewal' -> 'Proposed' ->> 'Currency' = c
                             or m.data -> 'PastMemberships' @> jsonb_build_array(jsonb_build_object('Currency', c)))
            order by c
            """, ct, (object)currencies.ToArray()); // one parameter, the array (not one per currency)
}

/// <summary>
/// Loads the default tier table on first start, then checks every currency an invoice can still be issued in (the table in force's and
/// the membership terms') against the bank-transfer surcharges: a setting removed while a table or a term in its currency stands stops
/// the service, naming it, rather than failing invoice by invoice.
/// </summary>
public sealed class TierTableDefaultsLoader(IDocumentStore store, TimeProvider clock, IOptions<InvoicingOptions> invoicing) : IHostedService
{
    public async Task StartAsync(CancellationToken cancellationToken)
    {
        await TierTableDefaults.EnsureAsync(store, clock, cancellationToken);
        await RefuseASurchargeGapAsync(store, invoicing.Value, cancellationToken);
    }

    /// <summary>
    /// Refuses the settings (<see cref="SettingRefusedException"/>) when a surcharge is missing for a currency in use
    /// (<see cref="TierTableDefaults.SurchargeGapAsync"/>): at start, and in <c>check-env</c> (<see cref="StartRefusal"/>).
    /// </summary>
    public static async Task RefuseASurchargeGapAsync(IDocumentStore store, InvoicingOptions invoicing, CancellationToken ct)
    {
        await using var session = store.QuerySession();
        if (await TierTableDefaults.SurchargeGapAsync(session, invoicing, ct) is { } gap)
            throw new SettingRefusedException(gap);
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
}

public static class TierTableEndpoints
{
    /// <summary>The decision: a new version only when something changes, so that a repeated publication is a no-op.</summary>
    public static TierTablePublished? Decide(TierTableView? current, PublishTierTable command, DateTimeOffset now)
    {
        var tiers = command.Tiers.Select(t => (t with { Code = t.Code.Trim(), Name = t.Name.Trim() }).Normalised()).ToList();
        if (current is not null
            && current.InvitationThreshold == command.InvitationThreshold
            && current.EnterpriseAbovePoints == command.EnterpriseAbovePoints
            && current.Tiers.SequenceEqual(tiers))
            return null;
        return new TierTablePublished(command.InvitationThreshold, command.EnterpriseAbovePoints, tiers, command.Reason.Trim(), now);
    }

    /// <summary>
    /// A table is priced in a currency every country with a bank-transfer surcharge has an amount in, or it is refused (400, naming
    /// each such country and the setting to add): an invoice on it would otherwise carry no surcharge or one in the wrong currency.
    /// </summary>
    public static ProblemDetails Validate(PublishTierTable command, IOptions<InvoicingOptions> invoicing)
    {
        // A table without tiers or in several currencies is the validator's to refuse.
        if (command.Tiers is not { Count: > 0 } || command.Tiers.Select(t => t?.Currency).Distinct().Count() != 1
                                                || command.Tiers[0]?.Currency is not { } currency)
            return WolverineContinue.NoProblems;
        var missing = invoicing.Value.CountriesWithoutSurchargeIn(currency);
        if (missing.Count == 0)
            return WolverineContinue.NoProblems;
        return new HttpValidationProblemDetails(new Dictionary<string, string[]>
        {
            ["tiers"] = missing.Select(country => $"{country} has a bank-transfer surcharge, but none in {currency}: add " +
                                                  $"{InvoicingOptions.SettingFor(country, currency)} to the settings and restart the service " +
                                                  "before publishing a table priced in " + currency + ".").ToArray(),
        })
        {
            Status = StatusCodes.Status400BadRequest,
            Title = "One or more validation errors occurred.",
            Detail = $"The table is priced in {currency}, and a bank-transfer invoice on it would need a surcharge in {currency} for " +
                     $"{string.Join(", ", missing)}, which the settings do not state. Nothing was published.",
        };
    }

    public static Guid TierTableStreamId() => TierTableStream.Id;

    [WolverinePut("/api/tiers", OperationId = "PublishTierTable")]
    [Authorize(Roles = LedgerRoles.Finance)]
    [EndpointSummary("Publish a new version of the tier table (finance)")]
    [RequestExample("""{"invitationThreshold":500,"enterpriseAbovePoints":2500,"reason":"2027 price list","tiers":[{"code":"silver","name":"Silver","kind":"standard","pointsRequired":500,"annualFee":110,"currency":"EUR"},{"code":"gold","name":"Gold","kind":"standard","pointsRequired":1000,"annualFee":220,"currency":"EUR"},{"code":"platinum","name":"Platinum","kind":"standard","pointsRequired":1600,"annualFee":380,"currency":"EUR"},{"code":"enterprise_a","name":"Enterprise A","kind":"enterprise","maxProducts":25,"annualFee":1000,"currency":"EUR"}]}""")]
    public static (TierTableView, Events) Put(PublishTierTable command,
        [WriteAggregate(FromMethod = nameof(TierTableStreamId), Required = false)] TierTableView? current, TimeProvider clock)
    {
        var published = Decide(current, command, clock.GetUtcNow());
        if (published is null)
            return (current!, []);
        return (current is null ? TierTableViewProjection.Create(published) : TierTableViewProjection.Apply(current, published), [published]);
    }
}

/// <summary>Reading the tier table in force (its own class: the publication's <c>Validate</c> would apply to every endpoint of its class).</summary>
public static class TierTableQueries
{
    [WolverineGet("/api/tiers", OperationId = "GetTierTable")]
    [Authorize]
    [EndpointSummary("The tier table in force (standard and enterprise tiers, thresholds, fees) and its version")]
    public static async Task<Results<Ok<TierTableView>, ProblemHttpResult>> Get(IQuerySession session, CancellationToken ct) =>
        await session.LoadAsync<TierTableView>(TierTableStream.Id, ct) is { } table
            ? TypedResults.Ok(table)
            : TypedResults.Problem(Problems.NotFound("No tier table", "The tier table has not been loaded yet."));
}
