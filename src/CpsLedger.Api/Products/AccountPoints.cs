using CpsLedger.Api.Catalogue;
using CpsLedger.Api.Platform;
using Marten;
using Marten.Linq;
using Marten.Services.BatchQuerying;
using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.Mvc;
using Wolverine.Http;

namespace CpsLedger.Api.Products;

/// <summary>The account's points at a glance: the portal's header and the account-level green tick.</summary>
/// <param name="Products">Registered products (deregistered ones not counted).</param>
/// <param name="AllPointsAllocated">The account-level green tick: at least one product, and none waiting for details.</param>
/// <param name="ManualAdjustmentPoints">Points support added or took away by hand (included in the total).</param>
/// <param name="MembershipStatus">none (never joined), active, suspended (an invoice unpaid after the grace period) or ended (lapsed
/// or cancelled, and not joined again).</param>
/// <param name="AmountOwed">What is still to be paid on the account's invoices that are neither paid nor cancelled, due or not yet
/// due, in <paramref name="OwedCurrency"/>; 0 when nothing is. Invoices in another currency are not in it (see <c>owed</c>).</param>
/// <param name="AccountId">The business account.</param>
/// <param name="PointsTotal">Points the account holds at the moment read (now, or the as-of time): allocated points of its
/// registered products plus manual adjustments.</param>
/// <param name="ProductsWithGreenTick">Registered products whose points are allocated (all four details given).</param>
/// <param name="ProductsAwaitingDetails">Registered products still waiting for a mandatory detail: they earn no points
/// yet.</param>
/// <param name="OwedCurrency">The currency of the amount owed (ISO 4217, e.g. "EUR"): the newest open invoice's; null when nothing is
/// owed.</param>
public sealed record AccountSummary(
    Guid AccountId,
    int PointsTotal,
    int Products,
    int ProductsWithGreenTick,
    int ProductsAwaitingDetails,
    bool AllPointsAllocated,
    int ManualAdjustmentPoints = 0,
    Invoicing.MembershipStatus MembershipStatus = Invoicing.MembershipStatus.None,
    decimal AmountOwed = 0,
    string? OwedCurrency = null)
{
    /// <summary>What is still to be paid, one entry per currency, the newest open invoice's currency first (the first entry is
    /// <c>amountOwed</c> and <c>owedCurrency</c>); empty when nothing is. More than one entry only when a tier table in another currency
    /// was published while an invoice was open: amounts in two currencies are never added up.</summary>
    public IReadOnlyList<Invoicing.MoneyOwed> Owed { get; init; } = [];

    /// <summary>Money CPS owes back to the account, per invoice, newest invoice first (overpaid, or received on a cancelled invoice,
    /// less what was refunded); empty when none.</summary>
    public IReadOnlyList<Invoicing.RefundOwed> RefundsOwed { get; init; } = [];

    /// <summary>The summary with the account's standing in the programme: its membership status, what it owes and what it is owed.</summary>
    public AccountSummary With(Invoicing.MembershipStanding standing) => this with
    {
        MembershipStatus = standing.Status,
        AmountOwed = standing.AmountOwed,
        OwedCurrency = standing.Currency,
        Owed = standing.Owed,
        RefundsOwed = standing.RefundsOwed,
    };
}

/// <summary>What an account's points are made of: its products (each with its points lines) and support's manual adjustments.</summary>
public sealed record AccountPointsSources(IReadOnlyList<ProductView> Products, IReadOnlyList<Support.ManualAdjustment> Adjustments)
{
    public static readonly AccountPointsSources None = new([], []);

    /// <summary>The old CPS account's e-mail each migrated registration came from, by registration id: what the explanation names on a
    /// migrated product's lines (read only where an explanation is made; empty otherwise).</summary>
    public IReadOnlyDictionary<Guid, string> MigratedFrom { get; init; } = new Dictionary<Guid, string>();

    /// <summary>The catalogue's models of the account's products as they stand now, by normalised code: what the explanation says the
    /// catalogue gives now beside what was allocated, and what a product awaiting details would earn if completed now (read where an
    /// explanation is made; time travel's: the catalogue as it stood at the moment replayed; empty otherwise).</summary>
    public IReadOnlyDictionary<string, ProductModelView> CatalogueNow { get; init; } =
        new Dictionary<string, ProductModelView>();

    /// <summary>Models by their normalised codes, as <see cref="CatalogueNow"/> keeps them.</summary>
    public static IReadOnlyDictionary<string, ProductModelView> CatalogueOf(IEnumerable<ProductModelView> models) =>
        models.ToDictionary(m => ProductModelCode.Normalize(m.Code));

    /// <summary>
    /// The catalogue's models of every product of the account, added to a batched query: one subquery on the products' model codes,
    /// so the explanation reads them in its one round trip instead of a second one once the products are known.
    /// </summary>
    public static async Task<IReadOnlyDictionary<string, ProductModelView>> CatalogueIn(IBatchedQuery batch, Guid accountId)
    {
        var products = batch.Parent.DocumentStore.Options.FindOrResolveDocumentType(typeof(ProductView)).TableName.QualifiedName;
        // account_id: the duplicated column ProductsSetup indexes the products by.
        var models = await batch.Query<ProductModelView>(
            $"where data ->> 'Code' in (select p.data ->> 'ModelCode' from {products} as p where p.account_id = ?)", accountId);
        return CatalogueOf(models);
    }

    /// <summary>The catalogue's models of <paramref name="products"/>, read by their codes (one round trip; none for no products).</summary>
    public static async Task<IReadOnlyDictionary<string, ProductModelView>> CatalogueAsync(IQuerySession session,
        IEnumerable<ProductView> products, CancellationToken ct)
    {
        var ids = products.Select(p => ProductModelCode.StreamIdFor(p.ModelCode)).Distinct().ToArray();
        return ids.Length == 0 ? new Dictionary<string, ProductModelView>()
            : CatalogueOf((await session.LoadManyAsync<ProductModelView>(ct, ids)).OfType<ProductModelView>());
    }

    /// <summary>
    /// The old CPS accounts an account's products can have come from: those of its old e-mails (an e-mail cannot be unlinked once
    /// something was migrated from it), by their ids: read by id, never searched for among every old account's products (a scan
    /// of every old CPS account there was).
    /// </summary>
    public static Guid[] OldCpsAccountsOf(Accounts.AccountView? account) =>
        [.. (account?.OldCpsEmails ?? []).Select(Migration.LegacyIds.AccountFor).Distinct()];

    /// <summary>
    /// The old CPS e-mail each of <paramref name="products"/> migrated to <paramref name="accountId"/> came from, by registration:
    /// read (one or two round trips) only when one of them was migrated. <paramref name="account"/> is the account if already read;
    /// null, it is read here.
    /// </summary>
    public static async Task<IReadOnlyDictionary<Guid, string>> MigratedFromAsync(IQuerySession session, Guid accountId,
        IEnumerable<ProductView> products, Accounts.AccountView? account, CancellationToken ct)
    {
        if (!products.Any(p => p.Source == RegistrationSource.Migration))
            return new Dictionary<Guid, string>();
        account ??= await session.LoadAsync<Accounts.AccountView>(accountId, ct);
        return OldCpsAccountsOf(account) is { Length: > 0 } oldAccounts
            ? MigratedFromOf(accountId, await session.LoadManyAsync<Migration.LegacyAccountView>(ct, oldAccounts))
            : new Dictionary<Guid, string>();
    }

    /// <summary>The e-mails of the old CPS accounts products were migrated from to <paramref name="accountId"/>, by registration.</summary>
    public static IReadOnlyDictionary<Guid, string> MigratedFromOf(Guid accountId, IEnumerable<Migration.LegacyAccountView?> legacyAccounts) =>
        legacyAccounts.OfType<Migration.LegacyAccountView>()
            .SelectMany(l => l.Products.Where(p => p.MigratedToAccountId == accountId && p.RegistrationId is not null && !p.WasAlreadyRegistered)
                .Select(p => (Registration: p.RegistrationId!.Value, l.OldEmail)))
            .DistinctBy(p => p.Registration)
            .ToDictionary(p => p.Registration, p => p.OldEmail);
}

/// <summary>How the points total is built up: one line per allocation or removal, and the products still waiting for details.</summary>
/// <param name="AccountId">The business account.</param>
/// <param name="PointsTotal">The account's points: the sum of the points of all its lines, on every page (a figure of the whole
/// account, never of the page shown).</param>
/// <param name="Lines">Every allocation, removal and manual adjustment, deregistered products' included, oldest first (lines at the
/// same instant by event id); with <c>page</c> or <c>pageSize</c>, that page of them.</param>
/// <param name="AwaitingDetails">Registered products that earn nothing yet, which details each still needs and the points completing them
/// today would allocate (an expectation), oldest registration first (ties by registration id); always all of them, on every page.</param>
/// <param name="Membership">The membership year (term, renewal, tiers held); null when the account is not a member.</param>
/// <param name="TotalLines">The account's lines on all pages (the <c>total</c> of the other paged lists): how many <c>lines</c> has
/// when not paged.</param>
/// <param name="Page">The page of <c>lines</c> shown, from 1, when <c>page</c> or <c>pageSize</c> was given; null when every line is
/// shown.</param>
/// <param name="PageSize">Lines per page asked for (default 50) when <c>page</c> or <c>pageSize</c> was given; null when every line is
/// shown.</param>
public sealed record PointsExplanation(
    Guid AccountId,
    int PointsTotal,
    IReadOnlyList<PointsLine> Lines,
    IReadOnlyList<ProductAwaitingDetails> AwaitingDetails,
    Membership.MembershipOutlook? Membership = null,
    int TotalLines = 0,
    int? Page = null,
    int? PageSize = null)
{
    /// <summary>Only the lines of one page; every figure (the points total, the number of lines, the products awaiting details) stays
    /// the whole account's.</summary>
    public PointsExplanation PageOf(int page, int pageSize) =>
        this with { Lines = Paging.Slice(Lines, page, pageSize), Page = page, PageSize = pageSize };
}

/// <summary>A registered product that earns no points yet, and the mandatory details it still needs.</summary>
/// <param name="RegistrationId">The product's registration id (complete it with PATCH on the product).</param>
/// <param name="ModelCode">The model code it was registered as.</param>
/// <param name="ModelName">The model's catalogue name.</param>
/// <param name="SerialNumber">The serial number if given; null while missing.</param>
/// <param name="MissingDetails">The mandatory details still missing; the points are allocated once none is.</param>
/// <param name="RegisteredAt">When it was registered, UTC.</param>
/// <param name="ExpectedPoints">An expectation, not a fact: the points completing its details today would allocate, the model's
/// catalogue value now (a model withdrawn since it was registered included: it still earns its last value). Nothing is allocated
/// until the last detail is given, and then at the catalogue's value in force at that moment, which may differ. Time travel says it
/// from the catalogue as it stood at the moment replayed. Null only when the catalogue has (or had) no such model.</param>
public sealed record ProductAwaitingDetails(
    Guid RegistrationId,
    string ModelCode,
    string ModelName,
    string? SerialNumber,
    IReadOnlyList<MandatoryDetail> MissingDetails,
    DateTimeOffset RegisteredAt,
    int? ExpectedPoints)
{
    /// <summary>Whether <c>expectedPoints</c> is the last value of a model the catalogue has withdrawn since: true, and the model is on
    /// none of the catalogue's pages (it still earns that value); false while the model is listed, its value there. Null when
    /// <c>expectedPoints</c> is. Time travel says it from the catalogue as it stood at the moment replayed, as a points line's
    /// <c>modelWithdrawn</c>.</summary>
    public bool? ExpectedFromWithdrawnModel { get; init; }
}

public static class AccountPoints
{
    /// <summary>The summary from each product's current state and the manual adjustments.</summary>
    public static AccountSummary Summarize(Guid accountId, IReadOnlyCollection<ProductView> products,
        IReadOnlyCollection<Support.ManualAdjustment>? adjustments = null)
    {
        var registered = products.Where(p => !p.Deregistered).ToList();
        var ticked = registered.Count(p => p.GreenTick);
        var awaiting = registered.Count(p => p.MissingDetails.Count > 0);
        var manual = adjustments?.Sum(a => a.Points) ?? 0;
        return new AccountSummary(accountId, registered.Sum(p => p.Points) + manual, registered.Count, ticked, awaiting,
            registered.Count > 0 && awaiting == 0, manual);
    }

    public static AccountSummary Summarize(Guid accountId, AccountPointsSources sources) =>
        Summarize(accountId, [.. sources.Products], [.. sources.Adjustments]);

    /// <summary>
    /// The explanation from each product's history of allocations and removals. Its total is the sum of its lines, computed
    /// independently of <see cref="Summarize(Guid, AccountPointsSources)"/>: the two agreeing is what the tests check.
    /// </summary>
    public static PointsExplanation Explain(Guid accountId, IReadOnlyCollection<ProductView> products,
        IReadOnlyCollection<Support.ManualAdjustment>? adjustments = null, IReadOnlyDictionary<Guid, string>? migratedFrom = null,
        IReadOnlyDictionary<string, ProductModelView>? catalogue = null)
    {
        var manual = (adjustments ?? []).Select(a => new PointsLine(null, null, null, null, a.Points, null, null, nameof(Support.PointsAdjusted),
            a.EventId, a.At, a.By, a.Reason, a.TicketReference, Role: a.Role, InWords: PointsInWords.Adjustment(a.Points)));
        var from = migratedFrom ?? new Dictionary<Guid, string>();
        var models = catalogue ?? new Dictionary<string, ProductModelView>();
        var lines = products.SelectMany(p => PointsInWords.LinesOf(p, from.GetValueOrDefault(p.Id), PointsInWords.ModelOf(models, p)))
            .Concat(manual).OrderBy(l => l.At).ThenBy(l => l.EventId).ToList();
        var awaiting = products
            .Where(AwaitsDetails)
            .OrderBy(p => p.RegisteredAt)
            .ThenBy(p => p.Id) // as the product list breaks its ties (a migration's products share their instant), in reverse
            .Select(p => Awaiting(p, PointsInWords.ModelOf(models, p)))
            .ToList();
        return new PointsExplanation(accountId, lines.Sum(l => l.Points), lines, awaiting, TotalLines: lines.Count);
    }

    private static ProductAwaitingDetails Awaiting(ProductView product, ProductModelView? modelNow) =>
        new(product.Id, product.ModelCode, product.ModelName, product.SerialNumber, product.MissingDetails, product.RegisteredAt,
            ExpectedPoints(product, modelNow))
        {
            ExpectedFromWithdrawnModel = ExpectedFromWithdrawnModel(product, modelNow),
        };

    /// <summary>A registered product that earns nothing yet: a mandatory detail is still missing.</summary>
    public static bool AwaitsDetails(ProductView product) => !product.Deregistered && product.MissingDetails.Count > 0;

    /// <summary>
    /// What completing a product's details today would allocate (the explanation's <c>awaitingDetails</c> and My Products say it
    /// alike): the model's catalogue value in <paramref name="modelNow"/>, a withdrawn model's last value included, as
    /// <c>ProductPoints.AllocateIfDue</c> would allocate it; null for a product not waiting for details, or a model the catalogue
    /// does not have.
    /// </summary>
    public static int? ExpectedPoints(ProductView product, ProductModelView? modelNow) =>
        AwaitsDetails(product) ? modelNow?.Points : null;

    /// <summary>Whether <see cref="ExpectedPoints"/> is a withdrawn model's last value (a withdrawn model is on none of the catalogue's
    /// pages, so "the catalogue's value now" would send support looking for it); null where nothing is expected.</summary>
    public static bool? ExpectedFromWithdrawnModel(ProductView product, ProductModelView? modelNow) =>
        ExpectedPoints(product, modelNow) is null ? null : modelNow!.Withdrawn;

    public static PointsExplanation Explain(Guid accountId, AccountPointsSources sources) =>
        Explain(accountId, [.. sources.Products], [.. sources.Adjustments], sources.MigratedFrom, sources.CatalogueNow);

    /// <summary>The account's products and manual adjustments, as stored now.</summary>
    public static async Task<AccountPointsSources> LoadAsync(IQuerySession session, Guid accountId, CancellationToken ct)
    {
        // One round trip for both (a batched query): every summary and explanation reads them.
        var batch = session.CreateBatchQuery();
        var sources = LoadIn(batch, accountId);
        await batch.Execute(ct);
        return await sources;
    }

    /// <summary>Adds the account's products and adjustments to a batched query; the task completes when the batch has run.</summary>
    public static Task<AccountPointsSources> LoadIn(IBatchedQuery batch, Guid accountId)
    {
        var products = batch.Query(new ProductsOfAccount { AccountId = accountId });
        var adjustments = batch.Load<Support.AccountAdjustments>(accountId);
        return Combine(products, adjustments);

        static async Task<AccountPointsSources> Combine(Task<IEnumerable<ProductView>> products, Task<Support.AccountAdjustments?> adjustments) =>
            new([.. await products], (await adjustments)?.Adjustments ?? []);
    }
}

/// <summary>
/// Every product of an account, as a compiled query: every summary, explanation and eligibility reads it, and Marten turns the
/// expression into SQL once instead of on every read.
/// </summary>
public sealed class ProductsOfAccount : ICompiledListQuery<ProductView>
{
    public Guid AccountId { get; set; }

    public System.Linq.Expressions.Expression<Func<IMartenQueryable<ProductView>, IEnumerable<ProductView>>> QueryIs() =>
        q => q.Where(p => p.AccountId == AccountId);
}

/// <summary>
/// A points line in words, as support reads it out on the phone: only what the events and the registration recorded (the value, its
/// catalogue version, the category, the old account), and the programme's rule that decided it (docs/programme.md, "Not
/// retrospective"): points are the model's catalogue value in force when the fourth mandatory detail was given.
/// </summary>
public static class PointsInWords
{
    /// <summary>A product's points lines in words: its lines in the points explanation and in the product's own read alike.</summary>
    public static IEnumerable<PointsLine> LinesOf(ProductView product, string? migratedFromOldEmail, ProductModelView? modelNow) =>
        product.PointsLines.Select(l => Described(l, product, migratedFromOldEmail, modelNow));

    /// <summary>The product's model in <paramref name="catalogue"/> (keyed as <see cref="AccountPointsSources.CatalogueNow"/>); null when
    /// not read.</summary>
    public static ProductModelView? ModelOf(IReadOnlyDictionary<string, ProductModelView> catalogue, ProductView product) =>
        catalogue.GetValueOrDefault(ProductModelCode.Normalize(product.ModelCode));

    /// <summary>
    /// Products as My Products and the product read show them: each one's lines in words (<see cref="LinesOf"/>), the old CPS
    /// e-mail read as the explanation reads it, and what one waiting for details is expected to earn, from the same catalogue read. The views are read from a query session, which stores nothing: their lines are
    /// replaced in place.
    /// </summary>
    public static async Task<IReadOnlyList<ProductView>> DescribeAsync(IQuerySession session, Guid accountId, IReadOnlyList<ProductView> products,
        CancellationToken ct)
    {
        var from = await AccountPointsSources.MigratedFromAsync(session, accountId, products, account: null, ct);
        var catalogue = await AccountPointsSources.CatalogueAsync(session, products, ct);
        return Describe(products, from, catalogue);
    }

    /// <summary>
    /// Products described from the old CPS e-mails and the catalogue already read (time travel's: as replayed to its cut), as
    /// <see cref="DescribeAsync"/> describes them; their lines are replaced in place.
    /// </summary>
    public static IReadOnlyList<ProductView> Describe(IReadOnlyList<ProductView> products, IReadOnlyDictionary<Guid, string> migratedFrom,
        IReadOnlyDictionary<string, ProductModelView> catalogue)
    {
        foreach (var product in products)
        {
            var model = ModelOf(catalogue, product);
            product.PointsLines = [.. LinesOf(product, migratedFrom.GetValueOrDefault(product.Id), model)];
            product.ExpectedPoints = AccountPoints.ExpectedPoints(product, model);
            product.ExpectedFromWithdrawnModel = AccountPoints.ExpectedFromWithdrawnModel(product, model);
        }
        return products;
    }

    private static PointsLine Described(PointsLine line, ProductView product, string? migratedFromOldEmail, ProductModelView? modelNow)
    {
        var migrated = product.Source == RegistrationSource.Migration;
        var what = $"{line.ModelName} ({line.ModelCode}, {CategoryName(product.Category)})";
        // Only a deregistration takes points off, so its kind says why (the member's words: sold, lost, registered in error).
        var why = product.DeregistrationReason is { } reason ? $" when it was deregistered ({DeregisterProductEndpoint.Describe(reason)})" : "";
        // The catalogue's value now, where a later change made it another: the member asks why the catalogue says otherwise.
        var changed = modelNow is { } model && model.Points != line.CatalogueValue ? model : null;
        // A withdrawn model is not on the catalogue's pages: "now gives" would send support looking for it.
        var nowSaid = modelNow is { Withdrawn: true } withdrawn
            ? $"The catalogue has since withdrawn {line.ModelCode} (version {withdrawn.CatalogueVersion})" +
              (changed is null ? "" : $", its last value {changed.Points} points")
            : changed is null ? null
            : $"The catalogue now gives {changed.Points} points for {line.ModelCode} (version {changed.CatalogueVersion})";
        var said = line.Event == nameof(PointsRemoved)
            ? $"{what}: {-line.Points} points taken off{why}, exactly the points its allocation gave (catalogue version {line.CatalogueVersion}), " +
              "whatever the catalogue says now." + (nowSaid is null ? "" : $" {nowSaid}.")
            : $"{what}: {line.Points} points, the catalogue's value for {line.ModelCode} (version {line.CatalogueVersion}) in force when its " +
              "four mandatory details were complete. A later change of the catalogue does not alter it." +
              (nowSaid is null ? "" : $" {nowSaid}; the {line.Points} points already allocated do not change.") + BestGuesses(product);
        if (migrated)
            said += migratedFromOldEmail is null ? " Migrated from an old CPS account." : $" Migrated from the old CPS account {migratedFromOldEmail}.";
        return line with
        {
            Migrated = migrated,
            MigratedFromOldEmail = migrated ? migratedFromOldEmail : null,
            InWords = said,
            Category = product.Category,
            CatalogueNowGives = changed?.Points,
            ModelWithdrawn = modelNow?.Withdrawn,
        };
    }

    // The registration's flags as they stand (docs/programme.md, "Best guess": estimates earn points like exact values).
    private static string BestGuesses(ProductView product)
    {
        if (product.BestGuesses.Count == 0)
            return "";
        var named = product.BestGuesses.Order().Select(d => d switch
        {
            MandatoryDetail.SerialNumber => "serial number",
            MandatoryDetail.PurchaseDate => "purchase date",
            MandatoryDetail.CountryOfPurchase => "country of purchase",
            _ => "dealer",
        }).ToList();
        var list = named.Count == 1 ? named[0] : $"{string.Join(", ", named[..^1])} and {named[^1]}";
        return named.Count == 1
            ? $" Its {list} is a best guess, which earns points as an exact detail does."
            : $" Its {list} are best guesses, which earn points as exact details do.";
    }

    public static string Adjustment(int points) =>
        $"Manual adjustment by CPS support: {(points > 0 ? "+" : "−")}{Math.Abs(points)} points. No catalogue value decides it; the reason and the ticket say why.";

    private static string CategoryName(string code) =>
        Catalogue.CatalogueCategories.All.FirstOrDefault(c => c.Code == code)?.Name ?? code;
}

public static class GetAccountSummaryEndpoint
{
    [WolverineGet("/api/accounts/{accountId}/summary", OperationId = "GetAccountSummary")]
    [Authorize(Roles = LedgerRoles.Readers)]
    [Tags("Points")]
    [EndpointSummary("Points total, products, the account-level green tick, membership status, what is owed and what CPS owes back")]
    [ChecksAccountInItsBatch]
    public static async Task<AccountSummary> Get(Guid accountId, IDocumentStore store, TimeProvider clock, CancellationToken ct)
    {
        // A read-only session of its own: no outbox, no unit of work, nothing Wolverine would do with a writing session.
        await using var session = store.QuerySession();
        // Everything the summary reads, the account's existence included, in one batched query: one round trip.
        var batch = session.CreateBatchQuery();
        var exists = AccountExistence.In(batch, accountId);
        var standing = Invoicing.InvoiceQueries.StandingIn(batch, accountId, DateOnly.FromDateTime(clock.GetUtcNow().UtcDateTime));
        var sources = AccountPoints.LoadIn(batch, accountId);
        await batch.Execute(ct);
        await AccountExistence.EnsureAsync(exists, accountId);
        return AccountPoints.Summarize(accountId, await sources).With(await standing);
    }
}

public static class GetPointsExplanationEndpoint
{
    [WolverineGet("/api/accounts/{accountId}/points-explanation", OperationId = "GetPointsExplanation")]
    [Authorize(Roles = LedgerRoles.Readers)]
    [Tags("Points")]
    [EndpointSummary("The points total line by line: which event allocated or removed what, with which catalogue value, when, by whom")]
    [ChecksAccountInItsBatch]
    [EndpointDescription("The points total line by line: which event allocated or removed what, with which catalogue value, when, by " +
                         "whom. Support, auditors and finance read every line's reason. The account's member and the portal read a line " +
                         "support made (a manual adjustment, support's registration or deregistration) with its ticket, never the reason " +
                         "support wrote for the audit trail: an adjustment's or allocation's reason is null, a removal keeps its own reason; " +
                         "and they read the role of CPS staff who acted (by: \"CPS support\"), never a staff member's user name " +
                         "(docs/security.md). Lines oldest first, lines at the same instant by event id. Without page and pageSize every " +
                         "line, as before the explanation was paged; with either, one page of lines (pageSize default 50), page and " +
                         "pageSize said; pointsTotal, totalLines, awaitingDetails and membership stay the whole account's on every page.")]
    public static async Task<PointsExplanation> Get(Guid accountId,
        [System.ComponentModel.Description("The page of lines, from 1 (default 1); a page past the last has no lines. Neither this nor " +
                                          "pageSize: every line.")]
        [System.ComponentModel.DataAnnotations.Range(1, Paging.MaxPage)] int? page,
        [System.ComponentModel.Description("Lines per page (default 50). Neither this nor page: every line.")]
        [System.ComponentModel.DataAnnotations.Range(1, Paging.AccountListMaxPageSize)] int? pageSize,
        IDocumentStore store,
        Microsoft.Extensions.Options.IOptions<Membership.MembershipYearOptions> options, System.Security.Claims.ClaimsPrincipal user,
        HttpContext http, CancellationToken ct)
    {
        await using var session = store.QuerySession();
        // The points a membership renews on: the term and renewal ride along, so support explains both in one place. One
        // batched query, the account's existence included.
        var batch = session.CreateBatchQuery();
        var exists = AccountExistence.In(batch, accountId);
        var sources = AccountPoints.LoadIn(batch, accountId);
        // What the catalogue gives each product's model now, said beside what was allocated.
        var catalogue = AccountPointsSources.CatalogueIn(batch, accountId);
        var membership = batch.Load<Membership.AccountMembership>(Membership.MembershipStream.For(accountId));
        // The tiers an upgrade could go to are decided on these points, as eligible-tiers and time travel decide them: without
        // the table the outlook would say "none".
        var table = batch.Load<Tiers.TierTableView>(Tiers.TierTableStream.Id);
        await batch.Execute(ct);
        await AccountExistence.EnsureAsync(exists, accountId);
        var loaded = await sources;
        // The old CPS accounts products were migrated from to this account, each migrated product's lines naming theirs: a second
        // round trip for an account with migrated products only.
        loaded = loaded with
        {
            MigratedFrom = await AccountPointsSources.MigratedFromAsync(session, accountId, loaded.Products, await exists, ct),
            CatalogueNow = await catalogue,
        };
        var summary = AccountPoints.Summarize(accountId, loaded);
        var inForce = await table;
        var eligibility = inForce is null ? null : Tiers.Eligibility.Decide(accountId, summary.PointsTotal, summary.Products, inForce);
        // The renewal options as eligible-tiers shows them: the offer's table read only when one was published since the offer (a
        // second round trip then, none otherwise).
        var offered = inForce is null ? null : await Membership.RenewalTables.OfferedOnAsync(session, await membership, inForce.TableVersion, ct);
        var explanation = Support.SupportNotes.For(user, AccountPoints.Explain(accountId, loaded) with
        {
            Membership = Membership.MembershipOutlook.Of(await membership, eligibility, options.Value, inForce, offered),
        });
        // Cut after every line is read as the caller reads it: the total and staff's names come from the whole account.
        if (Paging.Asked(page, pageSize) is not { } asked)
            return explanation;
        Paging.Links(http, asked.Page, asked.PageSize, explanation.TotalLines);
        return explanation.PageOf(asked.Page, asked.PageSize);
    }
}
