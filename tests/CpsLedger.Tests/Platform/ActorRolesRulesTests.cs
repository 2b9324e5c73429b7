using CpsLedger.Api.Platform;
using CpsLedger.Api.Support;
using Microsoft.AspNetCore.Authorization;

namespace CpsLedger.Tests.Platform;

/// <summary>Which role a request records, and what the member and the portal read for it, as pure functions.</summary>
public sealed class ActorRolesRulesTests
{
    [Fact]
    public void The_frame_that_marks_an_endpoint_committing_through_wolverines_session_is_still_the_one_wolverine_adds()
    {
        // Wolverine.Marten's save-changes frame is internal, so the policy knows it by name; renamed in a later version, no write
        // endpoint would record its caller's role, and nothing else would fail.
        var frame = typeof(Wolverine.Marten.IMartenOutbox).Assembly.GetType(ActorRolePolicy.SaveChangesFrame);
        Assert.NotNull(frame);
        Assert.True(typeof(JasperFx.CodeGeneration.Frames.Frame).IsAssignableFrom(frame), frame.FullName);
    }

    private static IAuthorizeData[] Route(params string[] roles) => [.. roles.Select(r => new AuthorizeAttribute { Roles = r })];

    [Fact]
    public void A_request_records_the_roles_the_caller_holds_that_the_route_admits()
    {
        Assert.Equal("support", ActorRoles.Decide(["support"], Route(LedgerRoles.ProductKeepers)));
        Assert.Equal("member", ActorRoles.Decide(["member"], Route(LedgerRoles.ProductKeepers)));
        // Someone holding support and finance acts as support where only support is admitted, as finance where only finance is.
        Assert.Equal("support", ActorRoles.Decide(["finance", "support"], Route(LedgerRoles.Support)));
        Assert.Equal("finance", ActorRoles.Decide(["support", "finance"], Route(LedgerRoles.Finance)));
    }

    [Fact]
    public void Where_the_route_admits_more_than_one_role_the_caller_holds_all_of_them_are_recorded_none_picked()
    {
        Assert.Equal("support,auditor", ActorRoles.Decide(["auditor", "support"], Route($"{LedgerRoles.Support},{LedgerRoles.Auditor}")));
        Assert.Equal("member,portal", ActorRoles.Decide(["portal", "member"], Route(LedgerRoles.ProductKeepers)));
    }

    [Fact]
    public void Every_authorize_entry_must_admit_the_role_and_one_without_roles_admits_any()
    {
        // Two entries (the route's roles and the account-access policy, which names none): the roles come from the first.
        IAuthorizeData[] scoped = [new AuthorizeAttribute { Roles = LedgerRoles.ProductKeepers }, new AuthorizeAttribute { Policy = Auth.AccountAccessPolicy }];
        Assert.Equal("support", ActorRoles.Decide(["support", "finance"], scoped));
        Assert.Equal("finance", ActorRoles.Decide(["finance", "support"], Route(LedgerRoles.Readers, LedgerRoles.Finance)));
        Assert.Equal("support,finance", ActorRoles.Decide(["finance", "support"], []));
        // Not a ledger role, or none the route admits: nothing recorded (authorization lets no such caller through).
        Assert.Null(ActorRoles.Decide(["admin"], []));
        Assert.Null(ActorRoles.Decide(["member"], Route(LedgerRoles.Support)));
    }

    [Fact]
    public void The_member_reads_one_staff_roles_name_cps_staff_for_several_and_a_members_or_the_portals_name_as_it_is()
    {
        Assert.Equal(StaffNames.Support, StaffNames.NameOf("support"));
        Assert.Equal(StaffNames.Finance, StaffNames.NameOf("finance"));
        Assert.Equal(StaffNames.Operations, StaffNames.NameOf(ActorRoles.Operator));
        Assert.Equal(StaffNames.Audit, StaffNames.NameOf("auditor"));
        Assert.Equal(StaffNames.SeveralRoles, StaffNames.NameOf("support,auditor"));
        Assert.Equal(StaffNames.Support, StaffNames.NameOf("member,support"));
        Assert.Null(StaffNames.NameOf("member"));
        Assert.Null(StaffNames.NameOf("member,portal"));
    }

    [Fact]
    public void A_recorded_role_comes_before_the_marks_and_the_marks_read_only_what_records_none()
    {
        // The heuristic says anna is support (a ticket on the account); a recorded role says what each event was written as.
        var staff = StaffNames.Of([new StaffNames.Act("anna", "c1", StaffNames.Support)]);

        Assert.Equal(StaffNames.Finance, staff.Shown("anna", "c2", "finance"));
        Assert.Equal(StaffNames.Operations, staff.Shown("cli-ops", "c3", ActorRoles.Operator));
        Assert.Equal("kadri", staff.Shown("kadri", "c4", "member"));
        Assert.Equal(StaffNames.Support, staff.Shown("anna", "c5", null));
        Assert.Equal("ron", staff.Shown("ron", "c6", null));
        Assert.Equal(new CausedBy(StaffNames.Support, "c7", "support"), staff.Shown(new CausedBy("ron", "c7", "support")));
        Assert.Equal(new CausedBy("ron", "c8", null), staff.Shown(new CausedBy("ron", "c8", null)));
    }
}
