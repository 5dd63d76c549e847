CREATE TABLE `user_tokens` (
	`token_digest` text PRIMARY KEY NOT NULL,
	`user_id` integer NOT NULL,
	`purpose` text NOT NULL,
	`expiration_time` text NOT NULL,
	`used_time` text,
	`creation_time` text NOT NULL,
	FOREIGN KEY (`user_id`) REFERENCES `users`(`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
CREATE INDEX `user_tokens_user` ON `user_tokens` (`user_id`,`purpose`);--> statement-breakpoint
ALTER TABLE `homes` ADD `deactivated` integer DEFAULT false NOT NULL;--> statement-breakpoint
ALTER TABLE `user_sessions` ADD `app_id` text;