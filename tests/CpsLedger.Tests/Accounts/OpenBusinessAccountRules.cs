using CpsLedger.Api.Accounts;
using CpsLedger.Api.Platform;

namespace CpsLedger.Tests.Accounts;

/// <summary>The pure parts: the decision, the validator, the country list.</summary>
public sealed class OpenBusinessAccountRules
{
    private static readonly DateTimeOffset Now = new(2026, 11, 25, 9, 30, 0, TimeSpan.Zero);

    [Fact]
    public void opening_tidies_the_details_and_keeps_the_contact_email_as_given()
    {
        var id = Guid.NewGuid();
        var opened = OpenBusinessAccountEndpoint.Decide(id,
            new OpenBusinessAccount("  Valgus Studio OÜ ", " Studio@Example.ee ", "EE", [" Old@Example.EE "]), Now);

        Assert.Equal(new BusinessAccountOpened(id, "Valgus Studio OÜ", "Studio@Example.ee", "EE", opened.OldCpsEmails, Now), opened);
        Assert.Equal(["old@example.ee"], opened.OldCpsEmails);
    }

    [Fact]
    public void the_contact_email_key_ignores_case_and_surrounding_spaces() =>
        Assert.Equal(ContactEmailKey.From("studio@example.ee"), ContactEmailKey.From(" STUDIO@Example.EE "));

    [Fact]
    public void the_natural_key_comes_from_the_opening_event()
    {
        var account = BusinessAccount.Create(new BusinessAccountOpened(Guid.NewGuid(), "A", "A@B.ee", "EE", [], Now));
        Assert.Equal("a@b.ee", account.ContactEmail.Value);
    }

    [Theory]
    [InlineData("EE", true)]
    [InlineData("GB", true)]
    [InlineData("UK", false)]
    [InlineData("EU", false)]
    [InlineData("ee", false)]
    [InlineData("E", false)]
    [InlineData(null, false)]
    public void countries_are_assigned_iso_3166_alpha_2_codes(string? code, bool valid) =>
        Assert.Equal(valid, CountryCodes.IsAssigned(code));

    [Fact]
    public void the_country_list_has_every_assigned_code() => Assert.Equal(249, CountryCodes.Count);

    // An address block ends with the country's English name, inside the EU or outside it (a Swiss buyer's read "CH").
    [Theory]
    [InlineData("CH", "Switzerland")]
    [InlineData("US", "United States")]
    [InlineData("GB", "United Kingdom")]
    [InlineData("NO", "Norway")]
    [InlineData("DE", "Germany")]
    [InlineData("GR", "Greece")]
    public void an_address_names_its_country_in_english(string code, string name) =>
        Assert.Equal(name, new PostalAddress("Street 1", null, "1000", "City", code).Lines()[^1]);

    [Fact]
    public void every_country_the_ledger_accepts_has_a_name()
    {
        var codes = Enumerable.Range('A', 26).SelectMany(a => Enumerable.Range('A', 26).Select(b => $"{(char)a}{(char)b}"))
            .Where(CountryCodes.IsAssigned).ToList();
        Assert.Equal(CountryCodes.Count, codes.Count);
        Assert.All(codes, code => Assert.NotEqual(code, new PostalAddress("Street 1", null, "1000", "City", code).Lines()[^1]));
    }

    [Fact]
    public void a_complete_opening_is_valid()
    {
        var result = new OpenBusinessAccountValidator().Validate(new OpenBusinessAccount("Studio", "a@example.ee", "EE", null));
        Assert.True(result.IsValid, string.Join("; ", result.Errors));
    }

    [Theory]
    [InlineData("kadri\u200B@studiotamm.example", 0x200B)] // zero-width space
    [InlineData("kadri@studio\u00ADtamm.example", 0x00AD)] // soft hyphen
    [InlineData("ka\u200Ddri@studiotamm.example", 0x200D)] // zero-width joiner
    [InlineData("\uFEFFkadri@studiotamm.example", 0xFEFF)] // byte-order mark
    public void an_email_address_with_an_invisible_character_is_not_valid(string email, int invisible)
    {
        // Nobody can type such an address: a member could never match it, and mail to it reaches nobody or someone else.
        Assert.False(EmailAddresses.IsValid(email));
        Assert.Equal((char)invisible, EmailAddresses.InvisibleCharacter(email));

        var result = new OpenBusinessAccountValidator().Validate(new OpenBusinessAccount("Studio", email, "EE", [email]));
        Assert.Equal(
            [$"Contact e-mail contains an invisible character (U+{invisible:X4}); remove it.",
             $"Old CPS e-mail contains an invisible character (U+{invisible:X4}); remove it."],
            result.Errors.Select(e => e.ErrorMessage));
    }

    [Fact]
    public void an_ordinary_address_has_no_invisible_character() =>
        Assert.Null(EmailAddresses.InvisibleCharacter("kadri@studiotamm.example"));
}
