using JasperFx.Events.Aggregation;

namespace CpsLedger.Api.Accounts;

/// <summary>A business account was opened through the portal (or by support).</summary>
public sealed record BusinessAccountOpened(
    Guid AccountId,
    string CompanyName,
    string ContactEmail,
    string Country,
    IReadOnlyList<string> OldCpsEmails,
    DateTimeOffset OpenedAt);

/// <summary>
/// Support linked the e-mail of an old CPS account to the business account (the member had not given it), so that its
/// products can be migrated. <paramref name="Email"/> is trimmed and lower-case; who did it is in the event's metadata.
/// <paramref name="TicketReference"/>: the support ticket the link answers (also in the headers); null on links stored before
/// 2026-12-06, when none was asked for.
/// </summary>
public sealed record OldCpsEmailLinked(Guid AccountId, string Email, string Reason, DateTimeOffset LinkedAt, string? TicketReference = null);

/// <summary>
/// Support unlinked an old CPS e-mail that was linked (or given) by mistake, before anything was migrated from it.
/// <paramref name="TicketReference"/>: the support ticket the unlink answers (also in the headers); null on unlinks stored before
/// 2026-12-06, when none was asked for.
/// </summary>
public sealed record OldCpsEmailUnlinked(Guid AccountId, string Email, string Reason, DateTimeOffset UnlinkedAt, string? TicketReference = null);

/// <summary>The contact e-mail as compared for uniqueness: trimmed and lower-case.</summary>
public sealed record ContactEmailKey(string Value)
{
    public static ContactEmailKey From(string email) => new(email.Trim().ToLowerInvariant());
}

/// <summary>
/// The account's write model (immutable: each event gives a new value). Its contact e-mail is a Marten natural key: the database (a primary key written in
/// the append transaction) guarantees that no two accounts share it, also under concurrent requests.
/// </summary>
public sealed record BusinessAccount
{
    public Guid Id { get; init; }
    public int Version { get; init; }

    [NaturalKey]
    public ContactEmailKey ContactEmail { get; init; } = null!;

    public string CompanyName { get; init; } = "";
    public string Country { get; init; } = "";
    public IReadOnlyList<string> OldCpsEmails { get; init; } = [];

    [NaturalKeySource]
    public static BusinessAccount Create(BusinessAccountOpened e) => new()
    {
        Id = e.AccountId,
        ContactEmail = ContactEmailKey.From(e.ContactEmail),
        CompanyName = e.CompanyName,
        Country = e.Country,
        OldCpsEmails = [.. e.OldCpsEmails],
    };

    public BusinessAccount Apply(OldCpsEmailLinked e) =>
        OldCpsEmails.Contains(e.Email) ? this : this with { OldCpsEmails = [.. OldCpsEmails, e.Email] };

    public BusinessAccount Apply(OldCpsEmailUnlinked e) => this with { OldCpsEmails = [.. OldCpsEmails.Where(email => email != e.Email)] };
}
