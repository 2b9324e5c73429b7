using System.ComponentModel;
using System.ComponentModel.DataAnnotations;
using System.Security.Claims;
using CpsLedger.Api.Catalogue;
using CpsLedger.Api.Platform;
using JasperFx.Events;
using Marten;
using Marten.Events.Aggregation;
using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Mvc;
using Wolverine.Http;

namespace CpsLedger.Api.Products;

/// <summary>A registered product as "My Products" shows it, with the points lines it contributed to the account's total.</summary>
public sealed class ProductView
{
    /// <summary>The registration id: the product's id in every products route.</summary>
    public Guid Id { get; set; }
    /// <summary>The business account the product is registered under.</summary>
    public Guid AccountId { get; set; }
    /// <summary>The catalogue model code it was registered as, e.g. "EOS-R5".</summary>
    public string ModelCode { get; set; } = "";
    /// <summary>The model's name in the catalogue when it was registered.</summary>
    public string ModelName { get; set; } = "";
    /// <summary>The model's catalogue category (e.g. "camera_body", "lens") when it was registered.</summary>
    [OneOf(typeof(CatalogueCategories), nameof(CatalogueCategories.Codes), Schema = CatalogueCategories.Schema,
        SchemaDescription = CatalogueCategories.SchemaDescription)]
    public string Category { get; set; } = "";
    /// <summary>The serial number as given, spaces around and between its parts tidied to single spaces (the one-owner check
    /// compares it without spaces and case); null while not given.</summary>
    public string? SerialNumber { get; set; }
    /// <summary>The day the product was bought; null while not given.</summary>
    public DateOnly? PurchaseDate { get; set; }
    /// <summary>Where it was bought: ISO 3166-1 alpha-2 code, e.g. "EE"; null while not given.</summary>
    public string? CountryOfPurchase { get; set; }
    /// <summary>The shop or dealer it was bought from; null while not given.</summary>
    public string? Dealer { get; set; }
    /// <summary>Which of the given details the member marked as a best guess rather than exact; they count as given.</summary>
    public List<MandatoryDetail> BestGuesses { get; set; } = [];

    /// <summary>Exactly which mandatory details are still missing (empty once complete).</summary>
    public List<MandatoryDetail> MissingDetails { get; set; } = [];

    /// <summary>The green tick: this product's points are allocated.</summary>
    public bool GreenTick { get; set; }

    /// <summary>Points this product currently counts towards the account's total.</summary>
    public int Points { get; set; }

    /// <summary>An expectation, not a fact, said only while the product waits for a mandatory detail: the points completing its
    /// details today would allocate, as the points explanation's <c>awaitingDetails[].expectedPoints</c> says it (the model's
    /// catalogue value now, a model withdrawn since registration included; in time travel its value at the cut). Nothing is allocated until the last detail is given, and
    /// then at the catalogue's value in force at that moment. Null once its points are allocated, once deregistered, and when the
    /// catalogue has no such model. Decided when read, never stored.</summary>
    public int? ExpectedPoints { get; set; }

    /// <summary>Whether <c>expectedPoints</c> is the last value of a model the catalogue has withdrawn since: true, and the model is on
    /// none of the catalogue's pages (it still earns that value); false while the model is listed, its value there. Null when
    /// <c>expectedPoints</c> is. As the points explanation's <c>awaitingDetails[].expectedFromWithdrawnModel</c> says it, and a points
    /// line's <c>modelWithdrawn</c>; in time travel from the catalogue as it stood at the cut. Decided when read, never stored.</summary>
    public bool? ExpectedFromWithdrawnModel { get; set; }

    /// <summary>How it came to the account: <c>registration</c> (the member or support registered it) or <c>migration</c> (moved
    /// from an old CPS account).</summary>
    public RegistrationSource Source { get; set; }
    /// <summary>When it was registered (or migrated), UTC.</summary>
    public DateTimeOffset RegisteredAt { get; set; }
    /// <summary>True once the product was removed from the account; its points were removed with it.</summary>
    public bool Deregistered { get; set; }
    /// <summary>Why it was deregistered (sold, lost, registered in error); null while registered.</summary>
    public DeregistrationReason? DeregistrationReason { get; set; }
    /// <summary>The note given with the deregistration, by the member or by support (e.g. to whom it was sold); null when none was
    /// given or while registered.</summary>
    public string? DeregistrationNote { get; set; }
    /// <summary>When it was deregistered, UTC; null while registered.</summary>
    public DateTimeOffset? DeregisteredAt { get; set; }

    /// <summary>Every allocation and removal of this product's points, in order: its lines in the points explanation.</summary>
    public List<PointsLine> PointsLines { get; set; } = [];
}

/// <summary>One line of a points explanation: which event added or removed how many points, with which catalogue value, when and by whom.</summary>
/// <param name="Points">Signed: positive when allocated, negative when removed.</param>
/// <param name="CatalogueValue">The model's points value used (for a removal: the value that was allocated); null for a manual
/// adjustment, which no catalogue value decides.</param>
/// <param name="CatalogueVersion">The catalogue version of that value; null for a manual adjustment.</param>
/// <param name="RegistrationId">The product's registration; null for a manual adjustment by support.</param>
/// <param name="TicketReference">For a manual adjustment: the support ticket it answers.</param>
/// <param name="By">Who: a person, or the ledger itself (<c>system:...</c>).</param>
/// <param name="CausedBy">When the ledger did it: whose request set it off (null for a person's own action).</param>
/// <param name="Role">The role(s) the person in <paramref name="By"/> acted in, as recorded on the event
/// (<see cref="Platform.ActorRoles"/>); null for the ledger's own lines, for events stored before roles were recorded, and on lines
/// projected before lines kept their role (until the projections are rebuilt).</param>
/// <param name="ModelCode">The product's model code; null for a manual adjustment.</param>
/// <param name="ModelName">The product's model name; null for a manual adjustment.</param>
/// <param name="SerialNumber">The product's serial number when the points were allocated or removed; null for a manual
/// adjustment.</param>
/// <param name="Event">The event that added or removed the points, by its name: <c>PointsAllocated</c>, <c>PointsRemoved</c> or
/// <c>PointsAdjusted</c>.</param>
/// <param name="EventId">That event's id: the same id the history lists it under.</param>
/// <param name="At">When the points were added or removed, UTC.</param>
/// <param name="Migrated">True on the lines of a product migrated from an old CPS account (source <c>migration</c>), false on a
/// registered one's; null for a manual adjustment.</param>
/// <param name="MigratedFromOldEmail">For a product migrated from an old CPS account: that old account's e-mail, as the migration
/// recorded it; null for every other line. Filled where <paramref name="Migrated"/> is.</param>
/// <param name="InWords">Why the line has its points, in words support can read out: the catalogue's value in force when the product's
/// four details were complete (a later catalogue change does not alter it), a removal of exactly what was allocated, or a manual
/// adjustment that no catalogue value decides; the model's catalogue category when registered; and for a migrated product, the old CPS
/// account it came from; where the catalogue now gives the model another value, that value too (<c>catalogueNowGives</c>), and that the
/// points already allocated do not change. Made only of what the events, the registration and the catalogue recorded. A product's own
/// lines (My Products, the product read) say the same as its lines in the points explanation.</param>
/// <param name="Category">The catalogue category the product was registered with, by its code (e.g. <c>camera_body</c>, <c>lens</c>: the
/// codes of <c>GET /api/catalogue/categories</c>), so a reader can group the lines; null for a manual adjustment. Read from the
/// registration whenever the line is read, so every product's line has it, time travel's too.</param>
public sealed record PointsLine(
    Guid? RegistrationId,
    string? ModelCode,
    string? ModelName,
    string? SerialNumber,
    int Points,
    int? CatalogueValue,
    long? CatalogueVersion,
    string Event,
    Guid EventId,
    DateTimeOffset At,
    // Said of every reader of a points line (My Products and the explanation admit all five roles); the history's by says its own.
    [property: System.ComponentModel.Description("Who: a person (a token's sub), or the ledger itself (system:...). Support, auditors and " +
                                                 "finance read the user name as recorded; the account's member and the portal read the role " +
                                                 "staff acted in instead (\"CPS support\" on what support did; told by the line's role where " +
                                                 "it has one), and the member's, the portal's and the ledger's names as they are.")]
    string? By,
    [property: System.ComponentModel.Description("Why: a removal's own reason, and on a line support made, support's reason for the audit " +
                                                 "trail (after \"; support: \" on a removal). Support, auditors and finance read it all; the " +
                                                 "account's member and the portal never read support's reason (null, or the removal's own).")]
    string? Reason,
    [property: System.ComponentModel.Description(PointsLine.TicketDescription)]
    string? TicketReference = null,
    Platform.CausedBy? CausedBy = null,
    [property: System.ComponentModel.Description("The role(s) the person in by acted in, as recorded on the line's event (e.g. \"member\", " +
                                                 "\"portal\", \"support\"; comma-separated where the route admitted them by more than one); " +
                                                 "the same for every reader. Null for the ledger's own lines, for events stored before roles " +
                                                 "were recorded (2026-12-05), and on lines projected before lines kept their role, until the " +
                                                 "projections are rebuilt once.")]
    string? Role = null,
    bool? Migrated = null,
    string? MigratedFromOldEmail = null,
    string? InWords = null,
    [property: OneOf(typeof(CatalogueCategories), nameof(CatalogueCategories.Codes), Schema = CatalogueCategories.Schema,
        SchemaDescription = CatalogueCategories.SchemaDescription)]
    string? Category = null)
{
    private const string TicketDescription = "The support ticket a line support made answers (the member's own ticket): shown to every reader.";

    /// <summary>The points the catalogue gives the line's model now, where that differs from <c>catalogueValue</c> (the value the
    /// allocation used): a later catalogue change, said so that support can answer "why 235 when the catalogue says 300?". Points already
    /// allocated do not change (docs/programme.md, "Not retrospective"): the line's <c>points</c> stay what they are, and a removal takes
    /// off exactly what was allocated. For a model withdrawn since, its last value (a product waiting for details still earns it); the line's
    /// words say it was withdrawn. Null when the catalogue's value is the same, and on a manual adjustment. Time travel says it
    /// too, from the catalogue as it stood at the moment replayed: the line as a reader read it then (as of now, as it reads live).</summary>
    public int? CatalogueNowGives { get; init; }

    /// <summary>Whether the catalogue has withdrawn the line's model since: true, and the line's words say so (a withdrawn model is on
    /// none of the catalogue's pages, so <c>catalogueNowGives</c>, where set, is its last value, not a value the catalogue "now gives");
    /// false while it is listed. Null on a manual adjustment, and for a model the catalogue has (or had) not. Time travel says it from the
    /// catalogue as it stood at the moment replayed, as <c>catalogueNowGives</c>.</summary>
    public bool? ModelWithdrawn { get; init; }
}

public sealed partial class ProductViewProjection : SingleStreamProjection<ProductView, Guid>
{
    public static ProductView Create(ProductRegistered e)
    {
        var view = new ProductView
        {
            Id = e.RegistrationId,
            AccountId = e.AccountId,
            ModelCode = e.ModelCode,
            ModelName = e.ModelName,
            Category = e.Category,
            SerialNumber = e.SerialNumber,
            PurchaseDate = e.PurchaseDate,
            CountryOfPurchase = e.CountryOfPurchase,
            Dealer = e.Dealer,
            BestGuesses = [.. e.BestGuesses],
            Source = e.Source,
            RegisteredAt = e.RegisteredAt,
        };
        view.MissingDetails = [.. Details(view).Missing];
        return view;
    }

    public static void Apply(ProductView view, ProductDetailsAmended e)
    {
        view.SerialNumber = e.SerialNumber ?? view.SerialNumber;
        view.PurchaseDate = e.PurchaseDate ?? view.PurchaseDate;
        view.CountryOfPurchase = e.CountryOfPurchase ?? view.CountryOfPurchase;
        view.Dealer = e.Dealer ?? view.Dealer;
        view.BestGuesses = [.. e.BestGuesses];
        view.MissingDetails = [.. Details(view).Missing];
    }

    public static void Apply(ProductView view, IEvent<PointsAllocated> e)
    {
        view.GreenTick = true;
        view.Points = e.Data.Points;
        // Allocated by support's amendment: the line says why and which ticket, as an adjustment's does.
        var (reason, ticket) = Support.SupportReason.Of(e);
        view.PointsLines.Add(new PointsLine(view.Id, view.ModelCode, view.ModelName, e.Data.SerialNumber, e.Data.Points,
            e.Data.Points, e.Data.CatalogueVersion, nameof(PointsAllocated), e.Id, e.Data.AllocatedAt, e.UserName, reason, ticket,
            Platform.SystemActor.CausedByOf(e), Platform.ActorRoles.Of(e)));
    }

    public static void Apply(ProductView view, IEvent<PointsRemoved> e)
    {
        view.GreenTick = false;
        view.Points = 0;
        // Removed by support's deregistration: support's words after the event's own reason, and the ticket.
        var (reason, ticket) = Support.SupportReason.Of(e);
        view.PointsLines.Add(new PointsLine(view.Id, view.ModelCode, view.ModelName, e.Data.SerialNumber, -e.Data.Points,
            e.Data.Points, e.Data.CatalogueVersion, nameof(PointsRemoved), e.Id, e.Data.RemovedAt, e.UserName,
            reason is null ? e.Data.Reason : $"{e.Data.Reason}{Support.SupportNotes.SupportSeparator}{reason}", ticket, Platform.SystemActor.CausedByOf(e),
            Platform.ActorRoles.Of(e)));
    }

    public static void Apply(ProductView view, ProductDeregistered e)
    {
        view.Deregistered = true;
        view.DeregistrationReason = e.Reason;
        view.DeregistrationNote = e.Note;
        view.DeregisteredAt = e.DeregisteredAt;
        view.MissingDetails = [];
    }

    private static RegistrationDetails Details(ProductView view) =>
        new(view.SerialNumber, view.PurchaseDate, view.CountryOfPurchase, view.Dealer);
}

/// <summary>One page of an account's products (My Products), newest registration first.</summary>
/// <param name="AccountId">The business account.</param>
/// <param name="Items">The page's products, newest registration first, ties (a migration registers its products at one instant) by
/// registration id, descending.</param>
/// <param name="Page">The page number, from 1.</param>
/// <param name="PageSize">Products per page asked for.</param>
/// <param name="Total">The account's products on all pages (with <c>includeDeregistered</c>, the deregistered ones too): a figure of the
/// whole account, never of the page.</param>
public sealed record ProductPage(Guid AccountId, IReadOnlyList<ProductView> Items, int Page, int PageSize, long Total);

public static class ListProductsEndpoint
{
    /// <summary>The account's products, newest first; deregistered ones only when asked for; whole, or a page when asked for one.</summary>
    [WolverineGet("/api/accounts/{accountId}/products", OperationId = "ListProducts")]
    [Authorize(Roles = LedgerRoles.Readers)]
    [EndpointSummary("List an account's registered products (My Products); whole, or a page at a time with page or pageSize")]
    [EndpointDescription("The account's products, newest registration first (ties, such as a migration's products registered at one " +
                         "instant, by registration id, descending: a page boundary never repeats or drops one), each with its points lines " +
                         "as the points explanation shows them to the caller: the account's member and the portal read support's lines " +
                         "with their ticket, without support's reason, and by the role that acted (\"CPS support\"), never a staff " +
                         "member's user name (docs/security.md). Without page and pageSize the answer is every product, as an array, as " +
                         "before the list was paged; with either, one page (pageSize default 50) with total, the account's products on all " +
                         "pages.")]
    [WholeWithoutPaging(typeof(ProductView))]
    [ProducesResponseType<ProductPage>(StatusCodes.Status200OK)]
    public static async Task<IResult> Get(Guid accountId,
        [Description("true: also the products deregistered, whose points were removed. Default false: registered products only.")] bool? includeDeregistered,
        [Description("The page, from 1 (default 1); a page past the last has no items. Given (or pageSize), the answer is a page; " +
                     "neither: every product, as an array.")][Range(1, Paging.MaxPage)] int? page,
        [Description("Products per page (default 50). Given (or page), the answer is a page; neither: every product, as an array.")]
        [Range(1, Paging.AccountListMaxPageSize)] int? pageSize,
        IQuerySession session, ClaimsPrincipal user, HttpContext http,
        CancellationToken ct)
    {
        var query = session.Query<ProductView>().Where(p => p.AccountId == accountId);
        if (includeDeregistered != true)
            query = query.Where(p => !p.Deregistered);
        // A migration registers its products at one instant: the id breaks the tie, or each read could list them in another order
        // and a page boundary fall between them differently on each read.
        var ordered = query.OrderByDescending(p => p.RegisteredAt).ThenByDescending(p => p.Id); // as InListOrder, in memory
        if (Paging.Asked(page, pageSize) is not { } asked)
            return Results.Ok(await Described(await ordered.ToListAsync(ct)));

        var (number, size) = asked;
        var total = await query.CountAsync(ct);
        Paging.Links(http, number, size, total);
        // (page - 1) x pageSize fits an int: Paging.MaxPage x the largest page size. Nothing past the last page is asked for.
        var skip = (long)(number - 1) * size;
        IReadOnlyList<ProductView> items = skip >= total ? [] : await ordered.Skip((int)skip).Take(size).ToListAsync(ct);
        // Who is staff, for a reader who reads roles instead of staff's names, is told from every line the whole list has (only the
        // lines are read, not the products), so a page names no one the whole list would not.
        IEnumerable<PointsLine> everyLine = Support.SupportNotes.ReadsReasons(user) ? []
            : (await query.Select(p => p.PointsLines).ToListAsync(ct)).SelectMany(l => l);
        return Results.Ok(new ProductPage(accountId, await Described(items, everyLine), number, size, total));

        async Task<IReadOnlyList<ProductView>> Described(IReadOnlyList<ProductView> products, IEnumerable<PointsLine>? everyLine = null) =>
            Support.SupportNotes.For(user, await PointsInWords.DescribeAsync(session, accountId, products, ct),
                everyLine ?? products.SelectMany(p => p.PointsLines));
    }

    /// <summary>
    /// Products in the list's order, in memory (time travel's, replayed): newest registration first, ties by registration id,
    /// descending. The registration moment is compared at the microsecond, as PostgreSQL compares the stored one; a
    /// <see cref="Guid"/> compares as a uuid does.
    /// </summary>
    public static IReadOnlyList<ProductView> InListOrder(IEnumerable<ProductView> products) =>
        [.. products.OrderByDescending(p => TimeRange.ToStoredPrecision(p.RegisteredAt)).ThenByDescending(p => p.Id)];
}

public static class GetProductEndpoint
{
    // Another account's registration is not found either (its existence is not revealed), worded as PATCH and deregistration word it.
    [WolverineGet("/api/accounts/{accountId}/products/{registrationId}", OperationId = "GetProduct")]
    [Authorize(Roles = LedgerRoles.Readers)]
    [EndpointSummary("Read one registered product")]
    [ProducesResponseType(StatusCodes.Status404NotFound)]
    public static async Task<Results<Ok<ProductView>, ProblemHttpResult>> Get(Guid accountId, Guid registrationId, IQuerySession session,
        ClaimsPrincipal user, CancellationToken ct) =>
        await session.LoadAsync<ProductView>(registrationId, ct) is { } view && view.AccountId == accountId
            ? TypedResults.Ok(Support.SupportNotes.For(user, await PointsInWords.DescribeAsync(session, accountId, [view], ct)).Single())
            : TypedResults.Problem(ProductChecks.NotFound);
}
