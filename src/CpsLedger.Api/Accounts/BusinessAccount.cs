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
/// </summary>
public sealed record OldCpsEmailLinked(Guid AccountId, string Email, string Reason, DateTimeOffset LinkedAt);

/// <summary>Support unlinked an old CPS e-mail that was linked (or given) by mistake, before anything was migrated from it.</summary>
public sealed record OldCpsEmailUnlinked(Guid AccountId, string Email, string Reason, DateTimeOffset UnlinkedAt);

/// <summary>The contact e-mail as compared for uniqueness: trimmed and lower-case.</summary>
public sealed record ContactEmailKey(string Value)
{
    public static ContactEmailKey From(string email) => new(email.Trim().ToLowerInvariant());
}

/// <summary>
/// The account's write model. Its contact e-mail is a Marten natural key: the database (a primary key written in
/// the append transaction) guarantees that no two accounts share it, also under concurrent requests.
/// </summary>
public sealed class BusinessAccount
{
    public Guid Id { get; set; }
    public int Version { get; set; }

    [NaturalKey]
    public ContactEmailKey ContactEmail { get; set; } = null!;

    public string CompanyName { get; set; } = "";
    public string Country { get; set; } = "";
    public List<string> OldCpsEmails { get; set; } = [];

    [NaturalKeySource]
    public static BusinessAccount Create(BusinessAccountOpened e) => new()
    {
        Id = e.AccountId,
        ContactEmail = ContactEmailKey.From(e.ContactEmail),
        CompanyName = e.CompanyName,
        Country = e.Country,
        OldCpsEmails = [.. e.OldCpsEmails],
    };

    public void Apply(OldCpsEmailLinked e)
    {
        if (!OldCpsEmails.Contains(e.Email))
            OldCpsEmails.Add(e.Email);
    }

    public void Apply(OldCpsEmailUnlinked e) => OldCpsEmails.Remove(e.Email);
}
